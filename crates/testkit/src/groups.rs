//! What the broker says about consumer groups, asked without a client library, and a
//! macro that runs a group scenario once per group protocol.
//!
//! ListGroups v5 is the one request that describes classic and consumer groups alike
//! (DescribeGroups answers only for classic ones, ConsumerGroupDescribe only for
//! consumer ones), so the helpers here use it: a test can check which protocol a group
//! really speaks, so that a silent fallback to `classic` cannot pass as `consumer`, and
//! wait for a group of either kind to become empty.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fjord_protocol::messages::consumer_group_describe_response::DescribedGroup;
use fjord_protocol::messages::{ConsumerGroupDescribeRequest, ListGroupsRequest};

use crate::clients::GroupProtocol;
use crate::raw::RawConnection;

/// A group as ListGroups v5 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// "Empty", "Stable", "PreparingRebalance", "Assigning", "Reconciling", ...
    pub state: String,
    /// "classic" or "consumer".
    pub group_type: String,
}

/// `group` as ListGroups v5 lists it, or `None` if the broker does not list it.
pub fn listed_group(addr: SocketAddr, group: &str) -> Option<ListedGroup> {
    let mut connection = RawConnection::connect(addr).expect("connect to the broker");
    let listed = connection
        .request(&ListGroupsRequest::default(), 5)
        .expect("ListGroups v5");
    assert_eq!(listed.error_code, 0, "ListGroups: {listed:?}");
    listed
        .groups
        .into_iter()
        .find(|g| g.group_id == group)
        .map(|g| ListedGroup {
            state: g.group_state,
            group_type: g.group_type,
        })
}

/// The type ListGroups gives `group` ("classic" or "consumer"), if it lists the group.
pub fn group_type(addr: SocketAddr, group: &str) -> Option<String> {
    listed_group(addr, group).map(|g| g.group_type)
}

/// Fails the test unless the broker lists `group` with the type `protocol` makes.
pub fn assert_group_type(addr: SocketAddr, group: &str, protocol: GroupProtocol) {
    assert_eq!(
        group_type(addr, group).as_deref(),
        Some(protocol.group_type()),
        "group {group} is of the type {protocol:?} members make"
    );
}

/// Waits until `group` is listed as Empty (no members), for at most `deadline`.
pub fn wait_until_empty(addr: SocketAddr, group: &str, deadline: Duration) {
    let started = Instant::now();
    loop {
        let listed = listed_group(addr, group);
        if listed.as_ref().is_some_and(|g| g.state == "Empty") {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "group {group} is still {listed:?} after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A consumer group (KIP-848) as ConsumerGroupDescribe v0 describes it: state, epochs,
/// the server-side assignor, and each member's current and target assignment. Fails the
/// test if the broker answers with an error for the group.
pub fn describe_consumer_group(addr: SocketAddr, group: &str) -> DescribedGroup {
    let mut connection = RawConnection::connect(addr).expect("connect to the broker");
    let request = ConsumerGroupDescribeRequest {
        group_ids: vec![group.to_owned()],
        ..Default::default()
    };
    let response = connection
        .request(&request, 0)
        .expect("ConsumerGroupDescribe v0");
    let described = response
        .groups
        .into_iter()
        .find(|g| g.group_id == group)
        .expect("ConsumerGroupDescribe answers for the group asked for");
    assert_eq!(
        described.error_code, 0,
        "ConsumerGroupDescribe {group}: {described:?}"
    );
    described
}

/// Runs each named scenario, a `fn(GroupProtocol)` in the calling module, once per group
/// protocol, as two tests: `classic::NAME` and `consumer::NAME`.
///
/// Attributes written `#[consumer ATTRIBUTE]` before a scenario apply to its
/// consumer-protocol test only, for a scenario known to fail because of the broker:
/// `both_protocols!(works, #[consumer ignore = "KIP-848: what fails"] fails)`.
#[macro_export]
macro_rules! both_protocols {
    ($($(#[consumer $consumer_attribute:meta])* $scenario:ident),* $(,)?) => {
        mod classic {
            $(#[test]
            fn $scenario() {
                super::$scenario($crate::clients::GroupProtocol::Classic);
            })*
        }
        mod consumer {
            $(#[test]
            $(#[$consumer_attribute])*
            fn $scenario() {
                super::$scenario($crate::clients::GroupProtocol::Consumer);
            })*
        }
    };
}
