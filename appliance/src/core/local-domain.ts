/**
 * Which hosts mean "us": the configured domain plus the addresses the
 * appliance answers on, so `sip:alice@127.0.0.1` reaches alice too.
 */
export class LocalDomain {
  private readonly hosts: Set<string>;

  constructor(
    readonly name: string,
    aliases: string[],
  ) {
    this.hosts = new Set([name, ...aliases].map((h) => h.toLowerCase()));
  }

  isLocal(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /** The canonical AOR of one of our users. */
  aor(username: string): string {
    return `sip:${username}@${this.name}`;
  }
}
