//! Broker addresses as users write them: `HOST:PORT`, `[IPv6]:PORT`, comma-separated.

use std::fmt;
use std::str::FromStr;

/// One broker's address, resolved only when connecting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerAddress {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl BrokerAddress {
    /// The address a broker advertises in Metadata or FindCoordinator; `None` when the
    /// port does not fit a `u16`.
    pub fn advertised(host: &str, port: i32) -> Option<BrokerAddress> {
        Some(BrokerAddress {
            host: host.to_owned(),
            port: u16::try_from(port).ok()?,
        })
    }
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for BrokerAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<BrokerAddress, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("'{text}': an IPv6 address needs its closing ']'"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("'{text}' has no port; write [HOST]:PORT"))?;
            (host, port)
        } else {
            text.rsplit_once(':')
                .ok_or_else(|| format!("'{text}' has no port; write HOST:PORT"))?
        };
        if host.is_empty() {
            return Err(format!("'{text}' has no host; write HOST:PORT"));
        }
        if !text.starts_with('[') && host.contains(':') {
            return Err(format!("'{text}': write an IPv6 address as [ADDRESS]:PORT"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("'{text}': the port must be a number from 1 to 65535"))?;
        Ok(BrokerAddress {
            host: host.to_owned(),
            port,
        })
    }
}

/// The brokers to bootstrap from, as given to `--brokers`: at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerList(pub Vec<BrokerAddress>);

impl fmt::Display for BrokerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, address) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{address}")?;
        }
        Ok(())
    }
}

impl FromStr for BrokerList {
    type Err = String;

    fn from_str(text: &str) -> Result<BrokerList, String> {
        let addresses = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(BrokerAddress::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if addresses.is_empty() {
            return Err("no broker given; write HOST:PORT[,HOST:PORT...]".to_owned());
        }
        Ok(BrokerList(addresses))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn address(host: &str, port: u16) -> BrokerAddress {
        BrokerAddress {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn parses_host_port_and_bracketed_ipv6() {
        assert_eq!(
            "127.0.0.1:9092".parse::<BrokerAddress>(),
            Ok(address("127.0.0.1", 9092))
        );
        assert_eq!(
            "kafka-1.example:19092".parse::<BrokerAddress>(),
            Ok(address("kafka-1.example", 19092))
        );
        assert_eq!(
            "[::1]:9092".parse::<BrokerAddress>(),
            Ok(address("::1", 9092))
        );
        assert_eq!(address("::1", 9092).to_string(), "[::1]:9092");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for text in [
            "localhost",
            ":9092",
            "host:",
            "host:0",
            "host:65536",
            "::1:9092",
            "[::1]",
        ] {
            assert!(text.parse::<BrokerAddress>().is_err(), "{text}");
        }
    }

    #[test]
    fn lists_are_comma_separated_and_never_empty() {
        let list: BrokerList = "a:1, b:2,".parse().unwrap();
        assert_eq!(list, BrokerList(vec![address("a", 1), address("b", 2)]));
        assert_eq!(list.to_string(), "a:1,b:2");
        assert!("".parse::<BrokerList>().is_err());
        assert!(" , ".parse::<BrokerList>().is_err());
        assert!("a:1,b".parse::<BrokerList>().is_err());
    }
}
