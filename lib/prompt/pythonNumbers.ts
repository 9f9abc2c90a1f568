/**
 * Number-to-text conversions that reproduce, bit for bit, how the Impromptu data generators
 * (Python 3 + NumPy) wrote numbers into prompts and answers. The model was trained on those exact
 * strings, so "close enough" formatting changes the token sequence it sees.
 *
 * Three Python behaviours matter, and they differ from each other at rounding ties:
 * - `round(v, n)` (CPython): rounds the exact binary value of `v`, ties to even. `round(0.015, 2)` is
 *   0.01 because the double nearest 0.015 is 0.01499999….
 * - `np.round(v, n)` (NumPy): computes `rint(v * 10**n) / 10**n` in floating point, so the product's
 *   own rounding decides. `np.round(0.015, 2)` is 0.02 because `0.015 * 100` evaluates to exactly 1.5.
 * - `f'{v:.2f}'`: like `round` (exact value, ties to even) but keeps the sign of zero: `-0.00`.
 * The results are then printed with `str()` / `repr()`, which for floats is the shortest round-trip
 * digit string, written in fixed notation when the decimal exponent is in [-4, 16) and in scientific
 * notation (`1e+16`) otherwise.
 */

/**
 * Python's `repr(float)` / `str(float)`: shortest round-trip digits, `.0` appended to integral
 * values, scientific notation outside 1e-4 ≤ |v| < 1e16, `nan`, `inf`, `-0.0`.
 */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (value === 0) return `${sign}0.0`;
  // toExponential() without an argument yields the shortest digits that round-trip, like repr().
  const [mantissa, exponentText] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exponent < 0 ? '-' : '+';
    return `${sign}${digits[0]}${fraction}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const integerDigits = exponent + 1;
  if (digits.length <= integerDigits) return `${sign}${digits}${'0'.repeat(integerDigits - digits.length)}.0`;
  return `${sign}${digits.slice(0, integerDigits)}.${digits.slice(integerDigits)}`;
}

/**
 * Correctly rounded fixed-point text of |value| with `digits` decimals, ties to even — what CPython
 * does for both `round()` and `format(v, '.nf')`. JS `toFixed` also rounds the exact binary value but
 * breaks exact ties away from zero, so ties are detected on the exact expansion and fixed up.
 */
function magnitudeFixedHalfEven(magnitude: number, digits: number): string {
  if (magnitude >= 2 ** 53) {
    // Every double this large is an integer; toFixed would switch to exponent notation at 1e21.
    const integer = BigInt(magnitude).toString();
    return digits > 0 ? `${integer}.${'0'.repeat(digits)}` : integer;
  }
  // A double ≥ 2^-47 has at most 100 fractional decimal digits, so toFixed(100) is its exact value.
  // Smaller magnitudes cannot sit on a tie at `digits` ≤ 20 decimals (a tie needs a 5 at digit n+1).
  const exact = magnitude >= 2 ** -47 ? magnitude.toFixed(100) : undefined;
  if (exact !== undefined) {
    const point = exact.indexOf('.');
    const tail = exact.slice(point + 1 + digits);
    if (tail[0] === '5' && /^50*$/.test(tail)) {
      const kept = BigInt(exact.slice(0, point) + exact.slice(point + 1, point + 1 + digits));
      const even = kept % 2n === 0n ? kept : kept + 1n;
      return insertDecimalPoint(even, digits);
    }
  }
  return magnitude.toFixed(digits); // below 2^53 < 1e21, so toFixed writes plain digits
}

function insertDecimalPoint(scaled: bigint, digits: number): string {
  const text = scaled.toString().padStart(digits + 1, '0');
  return digits > 0 ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
}

/** Python's `f'{value:.{digits}f}'`: exact value, ties to even, `-0.00` kept for negative zero and tiny negatives. */
export function pythonFixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  return sign + magnitudeFixedHalfEven(Math.abs(value), digits);
}

/** CPython's built-in `round(value, ndigits)` for a float: the double nearest the correctly rounded decimal. */
export function pythonRound(value: number, ndigits: number): number {
  if (!Number.isFinite(value)) return value;
  return Number(pythonFixed(value, ndigits));
}

/** C `rint` in the default rounding mode: nearest integer, ties to even, sign of zero preserved. */
function rint(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor; // exact for doubles
  let result: number;
  if (fraction < 0.5) result = floor;
  else if (fraction > 0.5) result = floor + 1;
  else result = floor % 2 === 0 ? floor : floor + 1;
  return result === 0 && (value < 0 || Object.is(value, -0)) ? -0 : result;
}

/** NumPy's `np.round(value, decimals)` for float64 (decimals ≥ 0): `rint(value * 10**decimals) / 10**decimals`. */
export function numpyRound(value: number, decimals: number): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** decimals;
  return rint(value * scale) / scale;
}
