// Money arrives as decimal strings and stays exact here: compared, subtracted and rounded for display with BigInt
// fixed-point arithmetic, never through floating point. (Chart geometry alone uses Number: a bar's height.)

const SCALE = 12; // the store's NUMERIC(28, 12)
const UNIT = 10n ** BigInt(SCALE);
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/** The decimal string as a BigInt of 10^-12 units, or null when it is not a decimal. */
export function scaled(text) {
  if (text === null || text === undefined) return null;
  const match = DECIMAL.exec(String(text).trim());
  if (!match) return null;
  const fraction = (match[3] || "").slice(0, SCALE).padEnd(SCALE, "0");
  const value = BigInt(match[2]) * UNIT + BigInt(fraction);
  return match[1] ? -value : value;
}

/** A scaled BigInt back to a plain decimal string without trailing zeros. */
export function unscaled(value) {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / UNIT;
  const fraction = (abs % UNIT).toString().padStart(SCALE, "0").replace(/0+$/, "");
  const text = fraction ? `${whole}.${fraction}` : `${whole}`;
  return negative && text !== "0" ? `-${text}` : text;
}

/** -1, 0 or 1 comparing two decimal strings (null sorts first). */
export function compareDecimal(a, b) {
  const x = scaled(a);
  const y = scaled(b);
  if (x === null || y === null) return (x === null ? 0 : 1) - (y === null ? 0 : 1);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** a - b as a decimal string (null when either is not a decimal). */
export function subtract(a, b) {
  const x = scaled(a);
  const y = scaled(b);
  return x === null || y === null ? null : unscaled(x - y);
}

/** Whether a decimal string is below zero. */
export function isNegative(text) {
  const value = scaled(text);
  return value !== null && value < 0n;
}

/** Rounds a scaled value half away from zero to `places` decimals; the digits as a string. */
function rounded(value, places) {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const step = 10n ** BigInt(SCALE - places);
  const kept = (abs + step / 2n) / step;
  const base = 10n ** BigInt(places);
  const whole = (kept / base).toLocaleString("en-US");
  const fraction = places ? "." + (kept % base).toString().padStart(places, "0") : "";
  return { negative: negative && kept !== 0n, digits: whole + fraction };
}

/**
 * A decimal string as money: "$1,234.5678". `places` decimals at most (trailing zeros trimmed down to 2); amounts
 * too small to show at that precision keep their significant digits (a $0.000075 request is not "$0.00").
 */
export function money(text, { currency = "USD", places = 4 } = {}) {
  const value = scaled(text);
  if (value === null) return text === null || text === undefined ? "—" : String(text);
  let shown = rounded(value, places);
  if (value !== 0n && /^[0.,]+$/.test(shown.digits)) shown = rounded(value, SCALE);
  let digits = shown.digits;
  if (digits.includes("."))
    digits = digits
      .replace(/0+$/, "")
      .replace(/\.(\d)$/, (_, digit) => `.${digit}0`)
      .replace(/\.$/, ".00");
  else digits += ".00";
  const symbol = currency === "USD" ? "$" : `${currency} `;
  return `${shown.negative ? "−" : ""}${symbol}${digits}`;
}

/** A count with thousands separators ("—" when absent). */
export function count(value) {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString("en-US") : String(value);
}

/** A percentage given as a number or decimal string ("—" when absent). */
export function percent(value, places = 1) {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  return Number.isFinite(number) ? `${number.toFixed(places)} %` : String(value);
}

/** A ratio 0..1 as a percentage. */
export function ratio(value, places = 1) {
  if (value === null || value === undefined) return "—";
  return percent(Number(value) * 100, places);
}

/** Milliseconds, rounded ("—" when absent). */
export function millis(value) {
  if (value === null || value === undefined) return "—";
  const number = Number(value);
  return Number.isFinite(number) ? `${number.toLocaleString("en-US", { maximumFractionDigits: 1 })} ms` : "—";
}

/** An ISO time as "2025-06-01 14:03:22 UTC". */
export function when(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return moment
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC")
    .replace(/Z$/, " UTC");
}

/** Today's UTC date, "YYYY-MM-DD" (periods are UTC days, as the API counts them). */
export function today() {
  return new Date().toISOString().slice(0, 10);
}

/** The UTC date `days` before (negative: after) `iso`. */
export function shiftDay(iso, days) {
  const moment = new Date(`${iso}T00:00:00Z`);
  moment.setUTCDate(moment.getUTCDate() - days);
  return moment.toISOString().slice(0, 10);
}

/** Whether `text` is a calendar date "YYYY-MM-DD". */
export function isDay(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text || "")) return false;
  const moment = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(moment.getTime()) && moment.toISOString().slice(0, 10) === text;
}
