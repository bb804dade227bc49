/**
 * The resolver facts NicInfo's top-level DnsConfigInfo carries: host name,
 * domain, name servers, search list (core-services.md §8.3). open-vm-tools
 * gets them from glibc's res_ninit(); this module reproduces the parts of
 * glibc's resolv.conf handling that affect those values, without a resolver.
 */
import { DNSINFO_MAX_ADDRLEN, DNSINFO_MAX_SERVERS, DNSINFO_MAX_SUFFIXES } from './constants';
import { typedIpFromText } from './ipAddress';
import { DnsConfigInfo, TypedIpAddress } from './nicInfoTypes';
import { GuestInfoSources } from './sources';

export const RESOLV_CONF = '/etc/resolv.conf';
/** systemd-resolved: when resolv.conf is its stub, the real upstream servers are here (nicInfoPosix.c). */
export const RESOLVED_STUB = '/run/systemd/resolve/stub-resolv.conf';
export const RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';
/** glibc MAXNS: res_ninit keeps at most three name servers. */
export const GLIBC_MAXNS = 3;

export interface ResolvConf {
  nameservers: string[];
  /** "search" list, or the "domain" value as a one-element list (last of the two wins, as in glibc). */
  search: string[];
  /** glibc's defdname: "domain" value, or the first search entry. */
  domain: string | undefined;
}

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], domain: undefined };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [keyword, ...rest] = line.split(/[ \t]+/);
    if (keyword === 'nameserver' && rest[0] !== undefined) {
      conf.nameservers.push(rest[0]);
    } else if (keyword === 'domain' && rest[0] !== undefined) {
      conf.domain = rest[0];
      conf.search = [rest[0]];
    } else if (keyword === 'search') {
      const names = rest.filter((s) => s !== '' && !s.startsWith('#') && !s.startsWith(';'));
      conf.search = names;
      conf.domain = names[0];
    }
  }
  return conf;
}

function toServers(names: readonly string[], max: number): TypedIpAddress[] {
  const out: TypedIpAddress[] = [];
  for (const n of names) {
    if (out.length >= max) break;
    const ip = typedIpFromText(n);
    if (ip) out.push(ip);
  }
  return out;
}

/**
 * Builds the top-level DnsConfigInfo. Mirrors RecordResolverInfo: host name is
 * gethostname() (not an FQDN), the domain is always present (possibly ""),
 * and when /etc/resolv.conf is systemd-resolved's stub the name servers come
 * from the upstream file instead of reporting 127.0.0.53.
 */
export function gatherDnsConfig(src: GuestInfoSources): DnsConfigInfo | undefined {
  const hostName = src.hostname();
  if (hostName === undefined) return undefined;
  const conf = parseResolvConf(src.readFile(RESOLV_CONF) ?? '');

  // glibc derives the default domain from the host name when resolv.conf has none.
  let domain = conf.domain;
  let search = conf.search;
  if (domain === undefined) {
    const dot = hostName.indexOf('.');
    if (dot >= 0 && dot + 1 < hostName.length) {
      domain = hostName.slice(dot + 1);
      search = [domain];
    }
  }

  let servers: TypedIpAddress[];
  const upstream = src.realpath(RESOLV_CONF) === RESOLVED_STUB ? src.readFile(RESOLVED_UPSTREAM) : undefined;
  if (upstream !== undefined) {
    servers = toServers(parseResolvConf(upstream).nameservers, DNSINFO_MAX_SERVERS);
  } else {
    servers = toServers(conf.nameservers.filter((n) => typedIpFromText(n)).slice(0, GLIBC_MAXNS), DNSINFO_MAX_SERVERS);
  }

  // Keep within the XDR bounds (DnsHostname<255>) so one odd entry cannot make the whole NIC report unencodable.
  const fits = (s: string): boolean => Buffer.byteLength(s, 'utf8') <= DNSINFO_MAX_ADDRLEN;
  return {
    hostName: fits(hostName) ? hostName : hostName.slice(0, DNSINFO_MAX_ADDRLEN),
    domainName: domain !== undefined && fits(domain) ? domain : '',
    servers,
    searchSuffixes: search.filter(fits).slice(0, DNSINFO_MAX_SUFFIXES),
  };
}
