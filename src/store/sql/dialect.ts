// The dialect shim: the state machine's SQL is written once (src/store/sql/*, by query family) and
// these few fragments make it SQLite or PostgreSQL. Placeholders are named (`@name`), optionally
// with a PostgreSQL cast (`@name::bigint`) that SQLite drops; PostgreSQL gets numbered `$n`.
// Time: `now` is the injected host clock on SQLite (the `@now` parameter) and the database's clock on
// PostgreSQL, so statements take delays (`${d.now} + @delayMs`), never instants computed elsewhere.

export type DialectName = 'sqlite' | 'postgres';

/** The columns of a table parameter (see tableRows), in order, with their PostgreSQL types. */
export type TableColumns = readonly (readonly [name: string, type: 'text' | 'bigint'])[];

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
  /**
   * The rows of the table parameter `param` (run the statement with SqlExec.runTable), as `alias`
   * with the given columns: on PostgreSQL all rows at once (unnest of one array per column), on SQLite
   * one row per execution of the prepared statement (faster than binding the rows as JSON).
   */
  tableRows(param: string, columns: TableColumns, alias: string): string;
  /** Candidate rows of a claim: PostgreSQL locks them and passes over rows others are claiming. */
  lockSkip(table: string): string;
  /** The planner hint SQLite needs on some queue scans (nothing on PostgreSQL). */
  indexedBy(index: string): string;
  /** An instant as an offset from the database's now when the clock is the database's (see toHost). */
  hostTime(expr: string): string;
  /** The `locator` column as a settled job keeps it: its URL and expiry blanked (the stored form: api/stac/locator.ts). */
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
  tableRows: (param, columns, alias) => `(SELECT ${columns.map(([c]) => `@${param}_${c} AS ${c}`).join(', ')}) AS ${alias}`,
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
  tableRows: (param, columns, alias) => `unnest(${columns.map(([c, t]) => `@${param}_${c}::${t}[]`).join(', ')}) AS ${alias}(${columns.map(([c]) => c).join(', ')})`,
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
  /**
   * Run a statement over a table parameter (Dialect.tableRows) in one transaction: SQLite once per
   * row, PostgreSQL once with one array per column. Returns the rows changed.
   */
  runTable(sql: string, table: TableParam, params?: Params): Promise<number>;
}

/** The value of a table parameter: rows of values in the order of `columns`. */
export interface TableParam {
  param: string;
  columns: TableColumns;
  rows: readonly (readonly unknown[])[];
}

/** The parameters of one row of a table parameter (SQLite runs its statement once per row). */
export function tableRowParams(t: TableParam, row: readonly unknown[]): Params {
  return Object.fromEntries(t.columns.map(([c], i) => [`${t.param}_${c}`, row[i]]));
}

/** The parameters of a whole table parameter, one array per column (PostgreSQL). */
export function tableArrayParams(t: TableParam): Params {
  return Object.fromEntries(t.columns.map(([c], i) => [`${t.param}_${c}`, t.rows.map((r) => r[i])]));
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
