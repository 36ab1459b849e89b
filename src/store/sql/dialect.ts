// The dialect shim: the state machine's SQL is written once (src/store/sql/*, by query family) and
// these few fragments make it SQLite or PostgreSQL. Placeholders are named (`@name`), optionally
// with a PostgreSQL cast (`@name::bigint`) that SQLite drops; PostgreSQL gets numbered `$n`.
// Time: `now` is the injected host clock on SQLite (the `@now` parameter) and the database's clock on
// PostgreSQL, so statements take delays (`${d.now} + @delayMs`), never instants computed elsewhere.

export type DialectName = 'sqlite' | 'postgres';

export interface Dialect {
  readonly name: DialectName;
  /** The current time in epoch ms. */
  readonly now: string;
  greatest(a: string, b: string): string;
  /**
   * `x`, but never above `cap` (a parameter that may be null: no cap). Kept as each backend always
   * did it: SQLite's min() is null when x is null; PostgreSQL's LEAST() ignores a null x.
   */
  capped(x: string, cap: string): string;
  /** `col` is one of the values of the list parameter `param` (bind it with listParam). */
  inList(col: string, param: string, type: 'text' | 'bigint'): string;
  /** A row source over the list parameter `param`, one row per element, column `alias.value`. */
  listRows(param: string, type: 'text' | 'bigint', alias: string): string;
  /** Bind a list: a JSON array for SQLite's json_each, an array for PostgreSQL. */
  listParam(values: readonly (string | number)[] | null): unknown;
  /** Candidate rows of a claim: PostgreSQL locks them and passes over rows others are claiming. */
  lockSkip(table: string): string;
  /** The planner hint SQLite needs on some queue scans (nothing on PostgreSQL). */
  indexedBy(index: string): string;
  /** An instant as an offset from the database's now when the clock is the database's (see toHost). */
  hostTime(expr: string): string;
  /** The `locator` column as a settled job keeps it: its URL and expiry blanked (api/wire.ts). */
  readonly settledLocator: string;
}

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  now: '@now',
  greatest: (a, b) => `max(${a}, ${b})`,
  capped: (x, cap) => `min(coalesce(${cap}, 9e18), ${x})`,
  inList: (col, param) => `${col} IN (SELECT value FROM json_each(@${param}))`,
  listRows: (param, _type, alias) => `json_each(@${param}) AS ${alias}`,
  listParam: (values) => (values === null ? null : JSON.stringify(values)),
  lockSkip: () => '',
  indexedBy: (index) => `INDEXED BY ${index}`,
  hostTime: (expr) => expr,
  // json_replace: only members that are there (a locator without `h` stays as it is).
  settledLocator: `CASE WHEN json_valid(locator) AND json_type(locator) = 'object' THEN json_replace(locator, '$.h', '', '$.x', 0) ELSE locator END`,
};

/** The database's clock in epoch ms. clock_timestamp(), not now(): now() is frozen per transaction. */
export const PG_NOW = `(floor(extract(epoch from clock_timestamp()) * 1000))::bigint`;

export const postgresDialect: Dialect = {
  name: 'postgres',
  now: PG_NOW,
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
  capped: (x, cap) => `LEAST(${cap}, ${x})`,
  inList: (col, param, type) => `${col} = ANY(@${param}::${type}[])`,
  listRows: (param, type, alias) => `unnest(@${param}::${type}[]) AS ${alias}(value)`,
  listParam: (values) => (values === null ? null : [...values]),
  lockSkip: (table) => `FOR UPDATE OF ${table} SKIP LOCKED`,
  indexedBy: () => '',
  hostTime: (expr) => `${expr} - ${PG_NOW}`,
  // create_missing false: only members that are there. Locators are JSON.stringify output.
  settledLocator: `CASE WHEN locator LIKE '{%' THEN jsonb_set(jsonb_set(locator::jsonb, '{h}', '""', false), '{x}', '0', false)::text ELSE locator END`,
};

export type Params = Record<string, unknown>;

/** How a backend runs one shared statement (named parameters). */
export interface SqlRun {
  all<R>(sql: string, params?: Params): Promise<R[]>;
  /** Rows changed. */
  run(sql: string, params?: Params): Promise<number>;
}

export interface SqlExec extends SqlRun {
  /**
   * The same, for a statement that reads and then writes (a claim, a sweep): SQLite runs it in its
   * own BEGIN IMMEDIATE transaction (a deferred one can fail with SQLITE_BUSY_SNAPSHOT whatever the
   * busy_timeout); on PostgreSQL every statement is its own transaction already, and its claims lock
   * their candidate rows in the SQL (lockSkip).
   */
  readonly writing: SqlRun;
}

const PLACEHOLDER = /@([A-Za-z_]\w*)((?:::[A-Za-z_]+(?:\[\])?)?)/g;

/** SQLite text: named placeholders stay, casts go. */
export function toSqlite(sql: string): string {
  return sql.replace(PLACEHOLDER, (_m, name: string) => `@${name}`);
}

export interface PgStatement {
  text: string;
  names: string[];
}

/** PostgreSQL text: `@name` becomes `$n` (one number per name), casts stay. */
export function toPostgres(sql: string): PgStatement {
  const names: string[] = [];
  const text = sql.replace(PLACEHOLDER, (_m, name: string, cast: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}${cast}`;
  });
  return { text, names };
}

/** The positional values of a compiled statement (undefined binds as NULL). */
export function pgValues(st: PgStatement, params: Params): unknown[] {
  return st.names.map((n) => {
    const v = params[n];
    return v === undefined ? null : v;
  });
}
