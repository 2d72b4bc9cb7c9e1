import { Application } from './application.js';
import { Organization } from './organization.js';

export { Application } from './application.js';
export { Organization, paymentTermsValues, type PaymentTerms } from './organization.js';

export const entities = [Application, Organization];
