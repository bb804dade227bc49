/**
 * NicInfo V3 XDR (core-services.md §8.3): the spec's 121-byte example byte
 * for byte, round trips through the decoder, and the nicinfo.x bounds.
 */
import { strict as assert } from 'node:assert';

import { InfoType, IpAddressOrigin, IpAddressStatus } from '../src/services/guestinfo/constants';
import { setGuestInfoBinary } from '../src/services/guestinfo/messages';
import { NicInfoV3 } from '../src/services/guestinfo/nicInfoTypes';
import {
  decodeGuestNicProto,
  decodeNicInfoV3,
  encodeGuestNicProtoV3,
  encodeNicInfoV3,
  truncateIpsPerNic,
} from '../src/services/guestinfo/nicInfoXdr';
import { XdrError, XdrReader, XdrWriter } from '../src/services/guestinfo/xdr';

const ipv4 = (a: number, b: number, c: number, d: number): { type: number; address: Buffer } => ({
  type: 1,
  address: Buffer.from([a, b, c, d]),
});

/** The minimal example of core-services.md §8.3, written out from the spec's annotated dump. */
const SPEC_MINIMAL_EXAMPLE = Buffer.concat([
  Buffer.from('SetGuestInfo  10 ', 'latin1'),
  Buffer.from(
    [
      '00000003 00000001', // ver=3, pointer present
      '00000001', // nics count = 1
      '00000011', // mac length 17
    ].join('').replace(/ /g, ''),
    'hex',
  ),
  Buffer.from('00:50:56:aa:bb:cc', 'latin1'),
  Buffer.from(
    [
      '000000', // mac padding
      '00000001', // ips count = 1
      '00000001 00000004 c0a8010a', // IPv4, opaque len 4, 192.168.1.10
      '00000018', // prefix 24
      '00000000', // origin absent
      '00000001 00000001', // status present = preferred
      '00000000 00000000 00000000 00000000', // nic dns/wins/dhcp4/dhcp6 absent
      '00000000', // routes count = 0
      '00000000 00000000 00000000 00000000', // global dns/wins/dhcp4/dhcp6 absent
    ].join('').replace(/ /g, ''),
    'hex',
  ),
]);

function minimalInfo(): NicInfoV3 {
  return {
    nics: [
      {
        macAddress: '00:50:56:aa:bb:cc',
        ips: [{ address: ipv4(192, 168, 1, 10), prefixLength: 24, status: IpAddressStatus.PREFERRED }],
      },
    ],
    routes: [],
  };
}

function nic(i: number, ips = 1): NicInfoV3['nics'][number] {
  return {
    macAddress: `00:50:56:00:00:${i.toString(16).padStart(2, '0')}`,
    ips: Array.from({ length: ips }, (_, k) => ({
      address: ipv4(10, i & 0xff, (k >> 8) & 0xff, k & 0xff),
      prefixLength: 24,
      status: IpAddressStatus.PREFERRED,
    })),
  };
}

describe('60 guestinfo XDR primitives', () => {
  it('pads opaque/string data with zeros to 4 bytes and prefixes the length', () => {
    const b = new XdrWriter().string('abcde', 10).toBuffer();
    assert.equal(b.toString('hex'), '00000005' + '6162636465' + '000000');
    assert.equal(new XdrReader(b).string(10), 'abcde');
  });

  it('encodes optionals as a presence word and arrays as a count word', () => {
    const w = new XdrWriter();
    w.optional<number>(undefined, (x, v) => x.uint32(v));
    w.optional(7, (x, v) => x.uint32(v));
    w.array([1, 2], 5, (x, v) => x.uint32(v));
    assert.equal(w.toBuffer().toString('hex'), '00000000' + '0000000100000007' + '00000002' + '00000001' + '00000002');
  });

  it('rejects data beyond a declared bound and truncated input', () => {
    assert.throws(() => new XdrWriter().opaque(Buffer.alloc(6), 5), XdrError);
    assert.throws(() => new XdrReader(Buffer.from('000000', 'hex')).uint32(), XdrError);
    assert.throws(() => new XdrReader(Buffer.from('0000000601', 'hex')).opaque(5), XdrError);
    assert.throws(() => new XdrReader(Buffer.from('0000000141000100', 'hex')).opaque(5), /padding/);
  });
});

describe('60 guestinfo NicInfo V3 encoding', () => {
  it('produces the 121-byte minimal message of the spec exactly', () => {
    const msg = setGuestInfoBinary(InfoType.IPADDRESS_V3, encodeGuestNicProtoV3(minimalInfo()));
    assert.equal(SPEC_MINIMAL_EXAMPLE.length, 121);
    assert.equal(msg.length, 121);
    assert.equal(msg.toString('hex'), SPEC_MINIMAL_EXAMPLE.toString('hex'));
  });

  it('decodes the spec example back to the same structure', () => {
    const body = SPEC_MINIMAL_EXAMPLE.subarray('SetGuestInfo  10 '.length);
    assert.deepEqual(decodeGuestNicProto(body), minimalInfo());
  });

  it('round-trips every optional member: origin, next hop, DNS, WINS, DHCP', () => {
    const info: NicInfoV3 = {
      nics: [
        {
          macAddress: '00:50:56:01:02:03',
          ips: [
            { address: ipv4(10, 0, 0, 5), prefixLength: 8, origin: IpAddressOrigin.DHCP, status: IpAddressStatus.PREFERRED },
            { address: { type: 2, address: Buffer.from('fe800000000000000250560000000001', 'hex') }, prefixLength: 64 },
          ],
          dnsConfigInfo: { hostName: 'h', servers: [ipv4(1, 1, 1, 1)], searchSuffixes: ['a.example', 'b'] },
          winsConfigInfo: { primary: ipv4(10, 0, 0, 1), secondary: ipv4(10, 0, 0, 2) },
          dhcpConfigInfov4: { enabled: true, settings: 'lease=3600' },
          dhcpConfigInfov6: { enabled: false, settings: '' },
        },
      ],
      routes: [
        { dest: ipv4(0, 0, 0, 0), prefixLength: 0, nextHop: ipv4(10, 0, 0, 1), ifIndex: 0, type: 4, metric: 100 },
        { dest: ipv4(10, 0, 0, 0), prefixLength: 8, ifIndex: 0, type: 0, metric: 0xffffffff },
      ],
      dnsConfigInfo: { hostName: 'vm1', domainName: 'example.com', servers: [ipv4(10, 0, 0, 53)], searchSuffixes: ['example.com'] },
      dhcpConfigInfov4: { enabled: true, settings: '' },
    };
    const encoded = encodeGuestNicProtoV3(info);
    assert.deepEqual(decodeGuestNicProto(encoded), info);
    assert.equal(encoded.length % 4, 0);
  });

  it('accepts exactly 16 NICs and rejects a 17th (NICINFO_MAX_NICS)', () => {
    const sixteen: NicInfoV3 = { nics: Array.from({ length: 16 }, (_, i) => nic(i)), routes: [] };
    assert.equal(decodeNicInfoV3(encodeNicInfoV3(sixteen)).nics.length, 16);
    const seventeen: NicInfoV3 = { nics: Array.from({ length: 17 }, (_, i) => nic(i)), routes: [] };
    assert.throws(() => encodeNicInfoV3(seventeen), /exceeds <16>/);
  });

  it('enforces 2048 IPs per NIC, 100 routes and the 18-byte MAC bound', () => {
    assert.doesNotThrow(() => encodeNicInfoV3({ nics: [nic(1, 2048)], routes: [] }));
    assert.throws(() => encodeNicInfoV3({ nics: [nic(1, 2049)], routes: [] }), /exceeds <2048>/);
    const route = { dest: ipv4(10, 0, 0, 0), prefixLength: 8, ifIndex: 0, type: 0, metric: 0 };
    assert.throws(() => encodeNicInfoV3({ nics: [], routes: Array.from({ length: 101 }, () => route) }), /exceeds <100>/);
    assert.throws(() => encodeNicInfoV3({ nics: [{ macAddress: '0'.repeat(19), ips: [] }], routes: [] }), /exceeds <18>/);
  });

  it('cuts every NIC to 64 IPs for the type 9 form without touching the original', () => {
    const info: NicInfoV3 = { nics: [nic(1, 70), nic(2, 3)], routes: [] };
    const cut = truncateIpsPerNic(info, 64);
    assert.deepEqual(cut.nics.map((n) => n.ips.length), [64, 3]);
    assert.equal(info.nics[0]?.ips.length, 70);
  });

  it('rejects trailing bytes, other versions and a NULL pointer when decoding', () => {
    const body = encodeGuestNicProtoV3(minimalInfo());
    assert.throws(() => decodeGuestNicProto(Buffer.concat([body, Buffer.alloc(4)])), /trailing/);
    const v2 = Buffer.from(body);
    v2.writeUInt32BE(2, 0);
    assert.throws(() => decodeGuestNicProto(v2), /version 2/);
    assert.throws(() => decodeGuestNicProto(Buffer.from('0000000300000000', 'hex')), /NULL/);
  });
});
