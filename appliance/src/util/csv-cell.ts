/**
 * The first characters that make a spreadsheet program read a cell as a formula, or that it drops
 * before doing so (OWASP, "CSV Injection"): `=`, `+`, `-`, `@`, TAB and CR. A cell of an export
 * holds what users and their clients wrote (message text, a CPIM Message-ID, a SIP reason phrase),
 * so `=HYPERLINK(…)` or `-2+3+cmd|…` would otherwise run in the spreadsheet of whoever opens it.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell made inert for spreadsheets, as OWASP recommends: a single quote before a cell that
 * starts with one of those characters (spreadsheets show the rest as text and evaluate nothing);
 * every other cell unchanged. Only for CSV meant for people: the JSON exports stay lossless and
 * are the round-trip format. Numbers we write ourselves need no guard and should not get one.
 * @example inertCell('=1+1') // "'=1+1"
 * @example inertCell('sip:alice@example.com') // unchanged
 */
export function inertCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}
