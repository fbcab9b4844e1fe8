import * as assert from 'node:assert/strict';
import type { WriteStream } from 'node:fs';
import { BoundedLog, DEFAULT_LOG_MAX_BYTES, logLimitFrom } from '../../src/core/run/boundedLog';

const sink = () => {
  const parts: string[] = [];
  return { parts, stream: { write: (s: string) => parts.push(s) } as unknown as WriteStream };
};

describe('bounded lane logs (pure)', () => {
  it('keeps the start and the end, and says how much was left out in between', () => {
    const s = sink();
    const log = new BoundedLog(s.stream, 20);
    for (let i = 0; i < 10; i++) log.write(`line${i}\n`);
    log.flush();
    const text = s.parts.join('');
    assert.ok(text.startsWith('line0\nline\n[lanes]'), text);
    assert.ok(text.endsWith('ne8\nline9\n'), text);
    assert.match(text, /\[lanes\] … 40 characters of output left out here \(the log keeps 20; set LANES_LOG_MAX_BYTES=0 to keep everything\) …/);
  });

  it('writes everything when under the limit or unlimited', () => {
    for (const max of [0, 1000]) {
      const s = sink();
      const log = new BoundedLog(s.stream, max);
      log.write('a\n');
      log.write('b\n');
      log.flush();
      assert.equal(s.parts.join(''), 'a\nb\n');
    }
  });

  it('takes its limit from LANES_LOG_MAX_BYTES (0 = everything), else 4 MiB', () => {
    assert.equal(logLimitFrom({ LANES_LOG_MAX_BYTES: '1000' }), 1000);
    assert.equal(logLimitFrom({ LANES_LOG_MAX_BYTES: '0' }), 0);
    assert.equal(logLimitFrom({ LANES_LOG_MAX_BYTES: 'lots' }), DEFAULT_LOG_MAX_BYTES);
    assert.equal(logLimitFrom({}), DEFAULT_LOG_MAX_BYTES);
  });
});
