//! Responses of the membership APIs, filled only with the fields the request's version
//! carries: the broker encodes them at that version, and a field the version cannot
//! carry must keep its default.

use bytes::Bytes;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::join_group_response::JoinGroupResponseMember;
use fjord_protocol::messages::leave_group_response::MemberResponse;
use fjord_protocol::messages::{
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
};

use crate::error::ErrorCode;

/// What a JoinGroup learns (Kafka's JoinGroupResult).
#[derive(Debug, Clone)]
pub(crate) struct JoinResult {
    pub error: ErrorCode,
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty when there is none.
    pub leader: String,
    pub skip_assignment: bool,
    /// Filled for the leader only.
    pub members: Vec<JoinGroupResponseMember>,
}

impl JoinResult {
    /// A failed join: no generation, protocol or leader.
    pub(crate) fn error(member_id: &str, error: ErrorCode) -> JoinResult {
        JoinResult {
            error,
            member_id: member_id.to_owned(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// A JoinGroup response at `version`.
pub(crate) fn join(version: i16, result: JoinResult) -> ResponseKind {
    ResponseKind::JoinGroup(JoinGroupResponse {
        error_code: result.error.code(),
        generation_id: result.generation_id,
        protocol_type: if version >= 7 {
            result.protocol_type
        } else {
            None
        },
        // The protocol name is nullable from version 7; before, "no protocol" is "".
        protocol_name: if version >= 7 {
            result.protocol_name
        } else {
            Some(result.protocol_name.unwrap_or_default())
        },
        leader: result.leader,
        skip_assignment: version >= 9 && result.skip_assignment,
        member_id: result.member_id,
        members: result.members,
        ..Default::default()
    })
}

/// A SyncGroup response at `version`; the protocol fields exist from version 5.
pub(crate) fn sync(
    version: i16,
    error: ErrorCode,
    protocol_type: Option<&str>,
    protocol_name: Option<&str>,
    assignment: Bytes,
) -> ResponseKind {
    let with_protocol = version >= 5 && error == ErrorCode::NONE;
    ResponseKind::SyncGroup(SyncGroupResponse {
        error_code: error.code(),
        protocol_type: protocol_type.filter(|_| with_protocol).map(str::to_owned),
        protocol_name: protocol_name.filter(|_| with_protocol).map(str::to_owned),
        assignment,
        ..Default::default()
    })
}

/// A failed SyncGroup.
pub(crate) fn sync_error(version: i16, error: ErrorCode) -> ResponseKind {
    sync(version, error, None, None, Bytes::new())
}

/// A Heartbeat response.
pub(crate) fn heartbeat(error: ErrorCode) -> ResponseKind {
    ResponseKind::Heartbeat(HeartbeatResponse {
        error_code: error.code(),
        ..Default::default()
    })
}

/// A LeaveGroup response. Before version 3 there is one member and no member list: like
/// Kafka, its error becomes the top-level one.
pub(crate) fn leave(version: i16, error: ErrorCode, members: Vec<MemberResponse>) -> ResponseKind {
    let response = if version >= 3 {
        LeaveGroupResponse {
            error_code: error.code(),
            members,
            ..Default::default()
        }
    } else {
        let member_error = members
            .iter()
            .map(|member| member.error_code)
            .find(|&code| code != ErrorCode::NONE.code());
        LeaveGroupResponse {
            error_code: if error == ErrorCode::NONE {
                member_error.unwrap_or(ErrorCode::NONE.code())
            } else {
                error.code()
            },
            ..Default::default()
        }
    };
    ResponseKind::LeaveGroup(response)
}
