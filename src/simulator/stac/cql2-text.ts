// CQL2-Text (the subset the evaluator supports) parsed into CQL2-JSON, so both languages share
// one evaluator. Example: `"order:id" = 'ord-1' AND datetime >= TIMESTAMP('2026-07-01T00:00:00Z')`.
import { Cql2Error } from './cql2.js';

type Tok =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string; quoted: boolean }
  | { t: 'op'; v: string };

const MAX_LEN = 100_000;

function tokenize(src: string): Tok[] {
  if (src.length > MAX_LEN) throw new Cql2Error('filter is too long');
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Cql2Error('unterminated string literal');
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i++];
      }
      out.push({ t: 'str', v: s });
    } else if (c === '"') {
      const j = src.indexOf('"', i + 1);
      if (j < 0) throw new Cql2Error('unterminated quoted identifier');
      out.push({ t: 'id', v: src.slice(i + 1, j), quoted: true });
      i = j + 1;
    } else if (/[0-9]/.test(c) || ((c === '-' || c === '+' || c === '.') && /[0-9.]/.test(src[i + 1] ?? ''))) {
      const m = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) throw new Cql2Error(`bad number at ${i}`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_:.]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0], quoted: false });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 2);
      if (two === '<>' || two === '<=' || two === '>=' || two === '!=') {
        out.push({ t: 'op', v: two === '!=' ? '<>' : two });
        i += 2;
      } else if ('()=<>,'.includes(c)) {
        out.push({ t: 'op', v: c });
        i++;
      } else {
        throw new Cql2Error(`unexpected character ${JSON.stringify(c)} at ${i}`);
      }
    }
  }
  return out;
}

const COMPARE = new Set(['=', '<>', '<', '<=', '>', '>=']);

const MAX_DEPTH = 64;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): unknown {
    const e = this.or();
    if (this.i < this.toks.length) throw new Cql2Error(`unexpected ${this.describe(this.toks[this.i]!)}`);
    return e;
  }

  private describe(t: Tok): string {
    return t.t === 'str' ? `'${t.v}'` : String(t.v);
  }

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  private kw(word: string): boolean {
    const t = this.peek();
    if (t && t.t === 'id' && !t.quoted && t.v.toUpperCase() === word) {
      this.i++;
      return true;
    }
    return false;
  }

  private punct(p: string): boolean {
    const t = this.peek();
    if (t && t.t === 'op' && t.v === p) {
      this.i++;
      return true;
    }
    return false;
  }

  private expect(p: string): void {
    if (!this.punct(p)) throw new Cql2Error(`expected "${p}"`);
  }

  private or(): unknown {
    if (++this.depth > MAX_DEPTH) throw new Cql2Error(`filter nested deeper than ${MAX_DEPTH}`);
    const args = [this.and()];
    while (this.kw('OR')) args.push(this.and());
    this.depth--;
    return args.length === 1 ? args[0] : { op: 'or', args };
  }

  private and(): unknown {
    const args = [this.not()];
    while (this.kw('AND')) args.push(this.not());
    return args.length === 1 ? args[0] : { op: 'and', args };
  }

  private not(): unknown {
    if (this.kw('NOT')) {
      if (++this.depth > MAX_DEPTH) throw new Cql2Error(`filter nested deeper than ${MAX_DEPTH}`);
      const inner = this.not();
      this.depth--;
      return { op: 'not', args: [inner] };
    }
    return this.predicate();
  }

  private predicate(): unknown {
    const t = this.peek();
    if (t && t.t === 'op' && t.v === '(') {
      this.i++;
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (t && t.t === 'id' && !t.quoted && /^[ST]_/i.test(t.v) && this.toks[this.i + 1]?.t === 'op' && this.toks[this.i + 1]?.v === '(') {
      this.i += 2;
      const args = this.args();
      return { op: t.v.toLowerCase(), args };
    }
    const left = this.scalar();
    if (this.kw('IS')) {
      const neg = this.kw('NOT');
      if (!this.kw('NULL')) throw new Cql2Error('expected NULL after IS');
      const e = { op: 'isNull', args: [left] };
      return neg ? { op: 'not', args: [e] } : e;
    }
    const neg = this.kw('NOT');
    let e: unknown;
    if (this.kw('IN')) {
      this.expect('(');
      e = { op: 'in', args: [left, this.args()] };
    } else if (this.kw('BETWEEN')) {
      const lo = this.scalar();
      if (!this.kw('AND')) throw new Cql2Error('expected AND in BETWEEN');
      e = { op: 'between', args: [left, lo, this.scalar()] };
    } else if (this.kw('LIKE')) {
      e = { op: 'like', args: [left, this.scalar()] };
    } else if (!neg) {
      const op = this.peek();
      if (!op || op.t !== 'op' || !COMPARE.has(op.v)) {
        // a bare boolean literal or property is a predicate too
        if (typeof left === 'boolean') return left;
        throw new Cql2Error('expected a comparison operator');
      }
      this.i++;
      return { op: op.v, args: [left, this.scalar()] };
    } else {
      throw new Cql2Error('expected IN, BETWEEN or LIKE after NOT');
    }
    return neg ? { op: 'not', args: [e] } : e;
  }

  /** Comma-separated scalars up to and including ")". */
  private args(): unknown[] {
    const out: unknown[] = [];
    if (this.punct(')')) return out;
    do out.push(this.scalar());
    while (this.punct(','));
    this.expect(')');
    return out;
  }

  private coords(): number[][] {
    const pts: number[][] = [];
    do {
      const xy: number[] = [];
      while (this.peek()?.t === 'num') xy.push((this.toks[this.i++] as { v: number }).v);
      if (xy.length < 2 || xy.length > 3) throw new Cql2Error('a position needs 2 or 3 numbers');
      pts.push(xy);
    } while (this.punct(','));
    return pts;
  }

  private scalar(): unknown {
    const t = this.toks[this.i++];
    if (!t) throw new Cql2Error('unexpected end of filter');
    if (t.t === 'str' || t.t === 'num') return t.v;
    if (t.t === 'op') {
      if (t.v === '(') {
        // a list, e.g. for IN
        return this.args();
      }
      throw new Cql2Error(`unexpected "${t.v}"`);
    }
    if (t.quoted) return { property: t.v };
    const up = t.v.toUpperCase();
    if (up === 'TRUE') return true;
    if (up === 'FALSE') return false;
    if (up === 'NULL') return null;
    const call = this.peek()?.t === 'op' && this.peek()?.v === '(';
    if (!call) return { property: t.v };
    this.i++;
    if (up === 'TIMESTAMP' || up === 'DATE') {
      const [v] = this.args();
      return up === 'TIMESTAMP' ? { timestamp: v } : { date: v };
    }
    if (up === 'INTERVAL') return { interval: this.args() };
    if (up === 'BBOX') return { bbox: this.args() };
    if (up === 'POINT') {
      const [p] = this.coords();
      this.expect(')');
      return { type: 'Point', coordinates: p };
    }
    if (up === 'POLYGON') {
      const rings: number[][][] = [];
      do {
        this.expect('(');
        rings.push(this.coords());
        this.expect(')');
      } while (this.punct(','));
      this.expect(')');
      return { type: 'Polygon', coordinates: rings };
    }
    throw new Cql2Error(`unsupported function ${t.v}()`);
  }
}

/** Parse CQL2-Text into the equivalent CQL2-JSON. Throws Cql2Error on a syntax error. */
export function parseCql2Text(src: string): unknown {
  const toks = tokenize(src);
  if (toks.length === 0) throw new Cql2Error('empty filter');
  return new Parser(toks).parse();
}
