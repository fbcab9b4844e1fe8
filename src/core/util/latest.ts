/**
 * Serialise a refresh: one computation at a time; requests made while one runs fold into one
 * more run; a result is delivered only if nothing newer was asked for meanwhile (latest wins).
 * A late, slow result can never overwrite a newer one.
 */
export function latestOnly<T>(compute: () => Promise<T>, deliver: (value: T) => void, onError: (e: unknown) => void = () => undefined): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const value = await compute();
          if (!again) deliver(value);
        } catch (e) {
          if (!again) onError(e);
        }
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}
