// What is wrong with a cron expression, field by field, in words an operator can act on:
// `hour "25" is out of range 0-23`, `minute "*/61": step 61 is out of range 1-59`,
// `day-of-month 31 never occurs in February`. node-cron only says yes or no (and says yes to a
// step of 61, which fires once an hour); this names the field, the value and the range.

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const SECOND: Field = { name: 'second', min: 0, max: 59 };
const MINUTE: Field = { name: 'minute', min: 0, max: 59 };
const HOUR: Field = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: Field = { name: 'day-of-month', min: 1, max: 31 };
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const MONTH: Field = { name: 'month', min: 1, max: 12, names: MONTHS };
// 0 and 7 are both Sunday.
const DAY_OF_WEEK: Field = { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] };

const FIVE = [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];
const SIX = [SECOND, ...FIVE];
/** Longest month lengths (February: 29, leap years). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function value(f: Field, text: string): number | string {
  const named = f.names?.findIndex((n) => n === text.toLowerCase().slice(0, 3) && text.length >= 3) ?? -1;
  if (named >= 0 && !/^\d/.test(text)) return f === MONTH ? named + 1 : named;
  if (!/^\d+$/.test(text)) return `"${text}" is not a number${f.names ? ` or a name (${f.names.slice(0, 3).join(', ')}…)` : ''}`;
  const n = Number(text);
  if (n < f.min || n > f.max) return `${text} is out of range ${f.min}-${f.max}`;
  return n;
}

/** The values one field selects, or why it is wrong. */
function parseField(f: Field, text: string): Set<number> | string {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') return `"${text}" has an empty list entry`;
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined) return `"${item}" has more than one step`;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) return `"${item}": step "${stepText}" is not a number`;
      step = Number(stepText);
      const maxStep = f.max - f.min;
      if (step < 1 || step > maxStep) return `"${item}": step ${step} is out of range 1-${maxStep}`;
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.max;
    } else {
      const [a, b, more] = range!.split('-');
      if (more !== undefined) return `"${item}" is not a value or a range`;
      const va = value(f, a!);
      if (typeof va === 'string') return va;
      lo = va;
      hi = stepText !== undefined && b === undefined ? f.max : va;
      if (b !== undefined) {
        const vb = value(f, b);
        if (typeof vb === 'string') return vb;
        if (vb < va) return `range "${range}" runs backwards`;
        hi = vb;
      }
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/**
 * Why `expr` is not a usable cron expression, naming the field, its value and its range; null when
 * nothing is wrong that this can see (node-cron still has the last word).
 */
export function cronProblem(expr: string): string | null {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6)
    return `has ${parts.length} field${parts.length === 1 ? '' : 's'}; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (second first)`;
  const fields = parts.length === 6 ? SIX : FIVE;
  const sets: Set<number>[] = [];
  for (const [i, f] of fields.entries()) {
    const r = parseField(f, parts[i]!);
    if (typeof r === 'string') return `${f.name} field ${r} (fields: ${fields.map((x) => x.name).join(' ')})`;
    sets.push(r);
  }
  // A day of the month that no listed month has never fires (unless the day of the week may match).
  const [dom, month] = sets.slice(-3) as [Set<number>, Set<number>];
  const domText = parts[parts.length - 3]!;
  const dowText = parts[parts.length - 1]!;
  if (domText !== '*' && dowText === '*' && [...month].every((m) => [...dom].every((d) => d > MONTH_DAYS[m - 1]!))) {
    const months = [...month].map((m) => MONTH_NAMES[m - 1]).join(', ');
    return `day-of-month ${domText} never occurs in ${months}: the schedule would never run`;
  }
  return null;
}
