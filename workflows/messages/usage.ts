export interface UsageDailyInput {
  /** Periods that ended this many days back get their aggregates re-derived (default 2: a missed run is caught up). */
  lookbackDays?: number;
  /** Months ahead that get a partition of their own (default 2). */
  monthsAhead?: number;
}

export interface UsageDailyReport {
  partitionsCreated: string[];
  periodsVerified: number;
  aggregatesChecked: number;
  aggregatesRepaired: number;
  alertsRaised: number;
  /** Budget thresholds no prompt check fired (absent from runs before budgets were checked daily). */
  budgetAlertsRaised?: number;
}
