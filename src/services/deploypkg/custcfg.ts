/**
 * `cust.cfg` (customization.md §5): the INI-like file vCenter puts in the
 * package. Parsed the way cloud-init's ConfigFile does: `[SECTION]`
 * headers, `KEY = VALUE` lines with blanks around `=` stripped, keys
 * case-sensitive, `#`/`;` comment lines; flattened to `SECTION|KEY`.
 * Keys starting with `-` are secrets: `describe()` never shows their value.
 */

export interface NicConfig {
  /** Section name, e.g. NIC1. */
  name: string;
  mac: string;
  onboot: boolean;
  primary: boolean;
  /** IPv4: dhcp, static, or none (DISABLED / AS_IS keep nothing for v4). */
  ipv4: 'dhcp' | 'static' | 'disabled';
  address?: string;
  netmask?: string;
  gateways: string[];
  ipv6: Array<{ address: string; prefix: number }>;
  ipv6Gateways: string[];
}

export interface CustConfig {
  hostname?: string;
  domain?: string;
  nics: NicConfig[];
  nameservers: string[];
  searchDomains: string[];
  timezone?: string;
  /** DATETIME|UTC: hardware clock in UTC. */
  utc?: boolean;
  /** Decoded root password (PASSWORD|-PASS is base64). */
  rootPassword?: string;
  resetPassword: boolean;
  scriptName?: string;
  defaultRunPostScript: boolean;
  markerId?: string;
}

export class CustCfgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CustCfgError';
  }
}

/** Limits against hostile input. */
const MAX_TEXT = 1024 * 1024;
const MAX_NICS = 64;

/** Raw parse: `SECTION|KEY` → value (last one wins, as in ConfigParser-style readers). */
export function parseIni(text: string): Map<string, string> {
  if (text.length > MAX_TEXT) throw new CustCfgError(`cust.cfg larger than ${MAX_TEXT} bytes`);
  const out = new Map<string, string>();
  let section: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      if (!line.endsWith(']') || line.length < 3) throw new CustCfgError(`line ${n + 1}: bad section header`);
      section = line.slice(1, -1).trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new CustCfgError(`line ${n + 1}: expected KEY = VALUE`);
    if (section === undefined) throw new CustCfgError(`line ${n + 1}: key outside any section`);
    out.set(`${section}|${line.slice(0, eq).trim()}`, line.slice(eq + 1).trim());
  }
  return out;
}

const yes = (v: string | undefined): boolean => v !== undefined && /^(yes|true)$/i.test(v);
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_RE = /^[0-9a-fA-F:.]+$/;
/** Host names and domains: RFC 1123 labels. */
const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Time zone names: Area/Location, no `..`, no leading `/`. */
const TZ_RE = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;
const SCRIPT_RE = /^[A-Za-z0-9._-]+$/;

function indexed(m: Map<string, string>, prefix: string): string[] {
  const out: Array<[number, string]> = [];
  for (const [k, v] of m) {
    if (!k.startsWith(prefix)) continue;
    const i = Number(k.slice(prefix.length));
    if (Number.isInteger(i) && i > 0) out.push([i, v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map((x) => x[1]);
}

function check(re: RegExp, v: string | undefined, what: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!re.test(v)) throw new CustCfgError(`invalid ${what} "${v.slice(0, 64)}"`);
  return v;
}

function netmaskPrefix(mask: string): number {
  if (!IPV4_RE.test(mask)) throw new CustCfgError(`invalid netmask "${mask.slice(0, 64)}"`);
  const n = mask.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const bits = n.toString(2).padStart(32, '0');
  if (!/^1*0*$/.test(bits)) throw new CustCfgError(`non-contiguous netmask "${mask}"`);
  return bits.indexOf('0') < 0 ? 32 : bits.indexOf('0');
}

export function ipv4Prefix(mask: string): number {
  return netmaskPrefix(mask);
}

/** Parses and validates cust.cfg; every value that ends up in a system file is checked here. */
export function parseCustCfg(text: string): CustConfig {
  const m = parseIni(text);
  const nicNames = (m.get('NIC-CONFIG|NICS') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (nicNames.length > MAX_NICS) throw new CustCfgError(`more than ${MAX_NICS} NICs`);
  const nics: NicConfig[] = [];
  for (const name of nicNames) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new CustCfgError(`invalid NIC section name "${name.slice(0, 64)}"`);
    const g = (k: string): string | undefined => m.get(`${name}|${k}`);
    const mac = check(MAC_RE, g('MACADDR'), `MAC address of ${name}`);
    if (!mac) throw new CustCfgError(`${name} has no MACADDR`);
    const mode = (g('IPv4_MODE') ?? 'BACKWARDS_COMPATIBLE').toUpperCase();
    const proto = (g('BOOTPROTO') ?? '').toLowerCase();
    let ipv4: NicConfig['ipv4'];
    if (mode === 'DISABLED' || mode === 'AS_IS') ipv4 = 'disabled';
    else if (mode === 'STATIC') ipv4 = 'static';
    else if (mode === 'DHCP') ipv4 = 'dhcp';
    else if (mode === 'BACKWARDS_COMPATIBLE') ipv4 = proto === 'static' ? 'static' : 'dhcp';
    else throw new CustCfgError(`${name}: unknown IPv4_MODE "${mode.slice(0, 32)}"`);
    const nic: NicConfig = {
      name, mac: mac.toLowerCase(), onboot: g('ONBOOT') === undefined ? true : yes(g('ONBOOT')), primary: yes(g('PRIMARY')), ipv4,
      gateways: [], ipv6: [], ipv6Gateways: [],
    };
    if (ipv4 === 'static') {
      nic.address = check(IPV4_RE, g('IPADDR'), `${name} IPADDR`);
      nic.netmask = g('NETMASK');
      if (!nic.address || !nic.netmask) throw new CustCfgError(`${name}: static IPv4 without IPADDR and NETMASK`);
      netmaskPrefix(nic.netmask);
      nic.gateways = (g('GATEWAY') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const gw of nic.gateways) check(IPV4_RE, gw, `${name} gateway`);
    }
    const v6 = indexed(m, `${name}|IPv6ADDR|`);
    const v6m = indexed(m, `${name}|IPv6NETMASK|`);
    v6.forEach((a, i) => {
      check(IPV6_RE, a, `${name} IPv6 address`);
      const prefix = Number(v6m[i] ?? '64');
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) throw new CustCfgError(`${name}: bad IPv6 prefix`);
      nic.ipv6.push({ address: a, prefix });
    });
    nic.ipv6Gateways = indexed(m, `${name}|IPv6GATEWAY|`).map((x) => check(IPV6_RE, x, `${name} IPv6 gateway`)!);
    nics.push(nic);
  }
  const nameservers = indexed(m, 'DNS|NAMESERVER|');
  for (const ns of nameservers) if (!IPV4_RE.test(ns) && !IPV6_RE.test(ns)) throw new CustCfgError(`invalid name server "${ns.slice(0, 64)}"`);
  const searchDomains = indexed(m, 'DNS|SUFFIX|').map((s) => check(HOST_RE, s, 'DNS suffix')!);
  const pass = m.get('PASSWORD|-PASS');
  let rootPassword: string | undefined;
  if (pass !== undefined && pass !== '') {
    if (!/^[A-Za-z0-9+/]+=*$/.test(pass)) throw new CustCfgError('PASSWORD|-PASS is not base64');
    rootPassword = Buffer.from(pass, 'base64').toString('utf8');
    if (/[\0\n]/.test(rootPassword)) throw new CustCfgError('PASSWORD|-PASS decodes to a control character');
  }
  const tz = m.get('DATETIME|TIMEZONE');
  if (tz !== undefined && tz.split('/').includes('..')) throw new CustCfgError('invalid time zone');
  return {
    hostname: check(HOST_RE, m.get('NETWORK|HOSTNAME'), 'host name'),
    domain: check(HOST_RE, m.get('NETWORK|DOMAINNAME'), 'domain name'),
    nics,
    nameservers,
    searchDomains,
    timezone: check(TZ_RE, tz, 'time zone'),
    utc: m.has('DATETIME|UTC') ? yes(m.get('DATETIME|UTC')) : undefined,
    rootPassword,
    resetPassword: yes(m.get('PASSWORD|RESET')),
    scriptName: check(SCRIPT_RE, m.get('CUSTOM-SCRIPT|SCRIPT-NAME'), 'script name'),
    defaultRunPostScript: yes(m.get('MISC|DEFAULT-RUN-POST-CUST-SCRIPT')),
    markerId: m.get('MISC|MARKER-ID'),
  };
}
