import { describe, expect, it } from 'vitest';
import { buildImdnXml, parseImdnXml } from './imdn-xml.js';

describe('IMDN documents (RFC 5438 §11)', () => {
  it('writes and reads back a delivery notification with both recipient URIs', () => {
    const doc = { messageId: 'a<b', dateTime: '2026-11-30T06:00:00Z', recipientUri: 'sip:bob@d', originalRecipientUri: 'sip:list@d', kind: 'delivery' as const, status: 'delivered' };
    expect(parseImdnXml(buildImdnXml(doc))).toEqual(doc);
  });

  it('reads a notification written with a prefix (liblinphone writes the default namespace, others may not)', () => {
    const xml = '<i:imdn xmlns:i="urn:ietf:params:xml:ns:imdn"><i:message-id>x</i:message-id><i:datetime>t</i:datetime><i:display-notification><i:status><i:displayed/></i:status></i:display-notification></i:imdn>';
    expect(parseImdnXml(xml)).toEqual({ messageId: 'x', dateTime: 't', kind: 'display', status: 'displayed' });
  });

  it('refuses what is not an IMDN: another root, no message-id, a status the kind does not allow, broken XML', () => {
    const ns = 'xmlns="urn:ietf:params:xml:ns:imdn"';
    expect(parseImdnXml(`<other ${ns}/>`)).toBeNull();
    expect(parseImdnXml(`<imdn ${ns}><datetime>t</datetime><delivery-notification><status><delivered/></status></delivery-notification></imdn>`)).toBeNull();
    expect(parseImdnXml(`<imdn ${ns}><message-id>x</message-id><datetime>t</datetime><display-notification><status><stored/></status></display-notification></imdn>`)).toBeNull();
    expect(parseImdnXml('<imdn')).toBeNull();
  });
});
