import { z } from 'zod';
import { queryBool } from './common.js';

/** The columns of an import file, in this order, after a header row naming them. */
export const IMPORT_COLUMNS = ['name', 'password', 'displayName'] as const;

export const ImportQuerySchema = z.strictObject({
  /** default true: nothing is written, the verdicts say what would happen */
  dryRun: queryBool(true),
  /** a row whose user exists (or repeats an earlier row): skip it, or stop (nothing is imported) */
  onConflict: z.enum(['skip', 'stop']).default('stop'),
  /** rows without a password get a generated one, returned once in the row's verdict */
  generatePasswords: queryBool(false),
});
export type ImportQuery = z.input<typeof ImportQuerySchema>;

export const ImportRowSchema = z.object({
  /** line number in the file (the header is line 1) */
  line: z.number().int(),
  name: z.string(),
  verdict: z.enum(['create', 'conflict', 'invalid']),
  reason: z.string().optional(),
  /** a generated password (only when generatePasswords and not a dry run), shown once */
  password: z.string().optional(),
});
export type ImportRow = z.infer<typeof ImportRowSchema>;

export const ImportResultSchema = z.object({
  dryRun: z.boolean(),
  /** whether users were created */
  applied: z.boolean(),
  rows: z.array(ImportRowSchema),
  /** the rows not imported, as CSV with a `reason` column (header row included) */
  rejectedCsv: z.string(),
});
export type ImportResult = z.infer<typeof ImportResultSchema>;
