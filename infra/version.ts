/** The software's version: the CLI's --version and the OpenAPI document's info.version. */
export const VERSION = '0.1.0';
