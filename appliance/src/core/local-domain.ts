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

  /** The host names that are ours, lower case. */
  get hostNames(): string[] {
    return [...this.hosts];
  }

  isLocal(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /** The canonical AOR of one of our users. */
  aor(username: string): string {
    return `sip:${username}@${this.name}`;
  }

  /** The user name in one of our canonical AORs (the inverse of `aor`), or null for any other. */
  userOf(aor: string): string | null {
    const suffix = `@${this.name}`;
    return aor.startsWith('sip:') && aor.endsWith(suffix) && aor.length > 4 + suffix.length ? aor.slice(4, -suffix.length) : null;
  }
}
