// Jest loads global setup outside its module mapper, so TypeScript with NodeNext `.js` imports
// is loaded through tsx here.
import { tsImport } from 'tsx/esm/api';

export default async function setup() {
  const { default: globalSetup } = await tsImport('./global-setup.ts', import.meta.url);
  await globalSetup();
}
