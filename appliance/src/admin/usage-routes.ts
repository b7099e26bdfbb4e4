import type { DataSource } from 'typeorm';
import type { Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';
import { UsageError, usageMedia, usageQuery, usageStream, type UsageQuery } from '../usage/usage-export.js';

/** The CLI's wording (`--from "x": …`) as the API's, with the query field at fault. */
function apiError(err: UsageError): ApiError {
  const field = /--(from|to|user|format)\b/.exec(err.message)?.[1];
  return new ApiError(400, 'invalid_value', err.message.replace(/--(from|to|user|format)\b/g, '$1'), field);
}

/**
 * The usage export (C5) from the console, admin and support alike: the same records, formats and
 * range rules as `parley usage export`, streamed as a download. Each export is audit-logged
 * (who, the range, the format, the user) before the first byte goes out.
 */
export function usageRoutes(ds: DataSource, domain: string): Pick<Handlers, 'usageExport'> {
  return {
    async usageExport(req) {
      let q: UsageQuery;
      try {
        q = usageQuery(req.query, domain);
      } catch (err) {
        if (err instanceof UsageError) throw apiError(err);
        throw err;
      }
      const format = req.query.format;
      await req.audit('usage.export', q.user ?? null, undefined, { from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString(), format, user: q.user ?? null });
      const media = usageMedia(format, q);
      req.ctx.attachment(media.filename);
      req.ctx.type = media.type;
      return usageStream(ds, q, format);
    },
  };
}
