import { ConfigError } from './errors.js';

/**
 * Rejects options that are not an object, or that name an option not in `known` (a misspelt option
 * would otherwise be ignored silently): a ConfigError naming the function and the known names.
 */
export function checkOptionNames(where: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${where}: options must be an object, got ${JSON.stringify(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ConfigError(`${where}: unknown option '${key}' (known: ${known.join(', ')})`);
  }
}
