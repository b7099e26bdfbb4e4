/** The appliance version, shown by `parley --version` and /health. */
export const VERSION = '0.1.0';
