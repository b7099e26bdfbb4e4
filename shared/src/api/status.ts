import { z } from 'zod';
import { DevicesByTransportSchema } from './users.js';
import { IsoTime } from './common.js';

export const StatusSchema = z.object({
  uptimeSeconds: z.number().int(),
  memory: z.object({ rss: z.number().int(), heapUsed: z.number().int() }).describe('bytes'),
  registrations: z.object({ users: z.number().int(), devices: z.number().int(), byTransport: DevicesByTransportSchema }),
  /** the last 60 minutes, oldest first, the current minute last */
  messagesPerMinute: z.array(z.object({ minute: IsoTime, count: z.number().int() })),
  storedMessages: z.number().int(),
  xcapOperations: z.object({ reads: z.number().int(), writes: z.number().int() }),
});
export type Status = z.infer<typeof StatusSchema>;
