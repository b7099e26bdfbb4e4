/**
 * The messages between SchemaValidator (schema-validator.ts) and its worker
 * (schema-validator-worker.ts).
 */

/** Validate `xml` against the usage's schemas (`schemas[0]` first), or against `main`, a generated schema that includes some of them. */
export interface ValidateRequest {
  kind: 'parley-validate';
  id: number;
  xml: string;
  /** file names in appliance/schemas: the only files the schema may load */
  schemas: readonly string[];
  /** a schema generated for one element (subtree-schema.ts); its file name names its contents */
  main?: { fileName: string; contents: string };
}

/** A verdict (`valid`, with libxml2's messages when invalid), or `failure`: the validation could not run. */
export type ValidateReply = { kind: 'parley-validated'; id: number } & ({ valid: boolean; errors: string[]; failure?: undefined } | { failure: string; valid?: undefined });
