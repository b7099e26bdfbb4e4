import { describe, expect, it } from 'vitest';
import { inertCell } from './csv-cell.js';

describe('CSV cells made inert for spreadsheets (OWASP CSV injection)', () => {
  it('puts a single quote before a cell starting with = + - @ TAB or CR', () => {
    for (const s of ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3+cmd|\' /C calc\'!A0', '@SUM(A1)', '\t=1', '\r=1']) expect(inertCell(s)).toBe(`'${s}`);
  });

  it('leaves every other cell as it is, a formula character later in the text included', () => {
    for (const s of ['', 'plain', 'sip:alice@example.com', '2026-11-01T00:00:00.000Z', 'a=b', ' =1', "'already quoted", '\n=1']) expect(inertCell(s)).toBe(s);
  });
});
