import { describe, expect, it } from 'vitest';
import { ImportFormatError, judgeImport, readImportCsv, rejectedCsv } from './user-import.js';

describe('user import: one reading and one set of verdicts for the CLI and the API', () => {
  it('reads RFC 4180 CSV with a header, quoted commas, comments, and file line numbers', () => {
    const rows = readImportCsv('name,password,displayName\n# a comment\nann,"pw,with,commas",Ann\n\nbo,bo-pw\n', { requireHeader: true, maxRows: 10 });
    expect(rows).toEqual([
      { line: 3, fields: ['ann', 'pw,with,commas', 'Ann'] },
      { line: 5, fields: ['bo', 'bo-pw'] },
    ]);
    expect(readImportCsv('ann,ann-pw\n', { requireHeader: false, maxRows: 10 })).toEqual([{ line: 1, fields: ['ann', 'ann-pw'] }]);
    expect(() => readImportCsv('ann,ann-pw\n', { requireHeader: true, maxRows: 10 })).toThrow(ImportFormatError);
    expect(() => readImportCsv('name,password\na,b\nc,d\n', { requireHeader: true, maxRows: 1 })).toThrow(/more than 1 rows/);
  });

  it('judges each row: create, conflict (existing or repeated), invalid (rules, columns, missing password)', () => {
    const v = judgeImport(
      [
        { line: 2, fields: ['Ann', 'ann-pw'] },
        { line: 3, fields: ['old', 'old-pw'] },
        { line: 4, fields: ['ann', 'other'] },
        { line: 5, fields: ['x y', 'pw-pw'] },
        { line: 6, fields: ['cy', ''] },
        { line: 7, fields: ['di', 'di-pw', 'Di', 'extra'] },
      ],
      new Set(['old']),
      { generatePasswords: false },
    );
    expect(v.map((r) => [r.name, r.verdict])).toEqual([['ann', 'create'], ['old', 'conflict'], ['ann', 'conflict'], ['x y', 'invalid'], ['cy', 'invalid'], ['di', 'invalid']]);
    expect(judgeImport([{ line: 2, fields: ['cy', ''] }], new Set(), { generatePasswords: true })[0].verdict).toBe('create');
    expect(rejectedCsv(v).split('\n')[0]).toBe('line,name,password,displayName,reason');
  });
});
