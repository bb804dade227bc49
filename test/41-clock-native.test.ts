/**
 * Layer 4: the addon's clock functions (native/addon/clock.cc,
 * native/system/sysclock.c) -- read-only or refused by the kernel.
 *
 * SAFETY: nothing here may change this machine's clock. Reads use
 * `adjtimex({modes: 0})` and clock_gettime. The only set calls made are
 * ones the kernel validates and refuses before any permission check or
 * change: clock_settime with tv_nsec ≥ 10^9 (timespec64_valid_settod →
 * EINVAL), clock_settime is never called with a valid time, and adjtimex
 * with an out-of-range tick (ntp_validate_timex → EINVAL, or EPERM without
 * CAP_SYS_TIME). Every valid set path is tested against SimulatedClock
 * (63-timesync-*.test.ts).
 */
import assert from 'node:assert/strict';
import { adjtimex, ADJ, clockGetTime, clockSetTime, ClockError, isClockError, native, realtimeMicros, STA } from '../src/native';

describe('clock addon (read-only)', () => {
  it('clockGetTime: CLOCK_REALTIME agrees with Date.now(), MONOTONIC moves forward', () => {
    const t = clockGetTime('realtime');
    assert.ok(Number.isInteger(t.sec) && Number.isInteger(t.nsec));
    assert.ok(t.nsec >= 0 && t.nsec < 1e9);
    assert.ok(Math.abs(t.sec * 1000 + t.nsec / 1e6 - Date.now()) < 1000);
    const a = clockGetTime('monotonic');
    const b = clockGetTime('monotonic');
    assert.ok(b.sec * 1e9 + b.nsec >= a.sec * 1e9 + a.nsec);
    assert.ok(Math.abs(realtimeMicros() / 1000 - Date.now()) < 1000);
  });

  it('adjtimex({modes: 0}) reads the kernel NTP state without changing it', () => {
    const a = adjtimex();
    const b = adjtimex({ modes: 0 });
    for (const k of ['tick', 'freq', 'status', 'constant', 'precision', 'tolerance', 'state'] as const) {
      assert.equal(typeof a[k], 'number', k);
    }
    assert.ok(a.tick >= 9000 && a.tick <= 11000, `tick ${a.tick}`);
    assert.equal(a.tick, b.tick);
    assert.equal(a.freq, b.freq);
    assert.ok(a.state >= 0 && a.state <= 5);
    assert.ok(Math.abs(a.timeSec - Date.now() / 1000) < 2);
  });

  it('argument validation happens in TypeScript, before any syscall', () => {
    assert.throws(() => clockGetTime('bogus' as never), TypeError);
    assert.throws(() => clockSetTime({ sec: 1, nsec: 1e9 }), /nsec must be an integer/);
    assert.throws(() => clockSetTime({ sec: -5, nsec: 0 }), /sec must be an integer/);
    assert.throws(() => clockSetTime({ sec: 1.5, nsec: 0 }), RangeError);
    assert.throws(() => adjtimex({ modes: ADJ.TICK, tick: 8999 }), /tick must be an integer in \[9000, 11000\]/);
    assert.throws(() => adjtimex({ modes: ADJ.TICK }), /tick must be an integer/);
    assert.throws(() => adjtimex({ modes: ADJ.FREQUENCY, freq: 501 * 65536 }), /freq/);
    assert.throws(() => adjtimex({ modes: ADJ.OFFSET, offset: 500001 }), /offset/);
    assert.throws(() => adjtimex({ modes: ADJ.SETOFFSET }), /unsupported adjtimex mode bits 0x100/);
    assert.throws(() => adjtimex({ modes: 0x8001 }), /unsupported adjtimex mode bits/); // ADJ_OFFSET_SINGLESHOT
    assert.throws(() => adjtimex({ modes: ADJ.STATUS, status: -1 }), /status/);
    assert.equal(STA.PLL, 1);
  });

  it('the kernel refuses an invalid timespec (EINVAL) before any change (EINVAL)', () => {
    // Straight to the binding: TypeScript would refuse this first. tv_nsec = 2e9 is
    // rejected by timespec64_valid_settod before the capability check.
    try {
      native().clockSetTime(1, 2e9);
      assert.fail('clock_settime accepted tv_nsec = 2e9');
    } catch (e) {
      const err = e as { code?: string; errno?: number; syscall?: string };
      assert.equal(err.code, 'IO');
      assert.equal(err.errno, 22);
      assert.equal(err.syscall, 'clock_settime');
    }
  });

  it('adjtimex with a tick outside ±10 % fails without changing anything (EINVAL, or EPERM without CAP_SYS_TIME)', () => {
    const before = adjtimex();
    try {
      native().adjtimex({ modes: ADJ.TICK, tick: 1 });
      assert.fail('adjtimex accepted tick = 1');
    } catch (e) {
      const err = e as { errno?: number; syscall?: string };
      assert.ok(err.errno === 22 || err.errno === 1, String(err.errno));
      assert.equal(err.syscall, 'adjtimex');
    }
    assert.equal(adjtimex().tick, before.tick);
  });

  it('ClockError maps errno to stable codes', () => {
    assert.equal(new ClockError('x', 1, 'adjtimex').code, 'PERMISSION_DENIED');
    assert.equal(new ClockError('x', 22, 'adjtimex').code, 'INVALID_ARGUMENT');
    const io = new ClockError('x', 5, 'clock_settime');
    assert.equal(io.code, 'IO');
    assert.ok(isClockError(io, 'IO'));
    assert.ok(!isClockError(new Error('x')));
  });
});
