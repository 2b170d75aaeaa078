//! A member whose process is killed stops heartbeating without leaving the group: the
//! broker removes it when its session expires, and its partitions move to the member that
//! remains, within the session timeout (plus the time to notice and rejoin).
//!
//! The remaining member commits only after processing, so the group loses nothing
//! (at-least-once): whatever the killed member read but had not committed is read again
//! by its successor, from the group's last committed offsets.
//!
//! The scenario runs with both group protocols, and the killed member is a separate
//! process killed with SIGKILL:
//!
//! - classic: Debian's kcat in balanced-consumer mode (`kcat -G`). It commits nothing
//!   (auto-commit off): it is a member that dies after processing and before committing,
//!   the case at-least-once is for. Debian's kcat links an old librdkafka that speaks only
//!   the classic protocol, so it cannot be the consumer-protocol member.
//! - consumer (KIP-848): this test binary itself, re-executed to run only the ignored
//!   helper test [`killable_member`], which consumes with rdkafka and
//!   `group.protocol=consumer` and commits after every [`CHILD_COMMIT_EVERY`] messages it
//!   has processed. It dies with some messages processed and not committed, and some
//!   committed: the successor must read the former again and not the latter.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{
    GroupProtocol, REQUEST_TIMEOUT, assigned_partitions, client_config, create_topic,
    producer_config,
};
use fjord_testkit::groups::assert_group_type;
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: &str = "payments";
const GROUP: &str = "settlement";
const PARTITIONS: i32 = 6;
/// Messages per batch: one read by the first member alone, one while kcat is in the group,
/// one produced after kcat is killed.
const BATCH: u64 = 1_000;
/// The session timeout of both protocols' members: kcat's `session.timeout.ms` with
/// classic, the broker's `group_consumer_session_timeout_ms` with consumer (both as
/// [`GroupProtocol`] sets them).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const HEARTBEAT_INTERVAL_MS: &str = "500";
/// Time allowed beyond the session timeout for the broker to notice the expired session
/// and for the remaining member to rejoin and sync.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(4);
/// How many messages the remaining member processes between two commits.
const COMMIT_EVERY: usize = 50;
/// How many messages the consumer-protocol child processes between two commits. It never
/// commits a partial count, so when it is killed after reading its share, the last
/// messages it processed are uncommitted (unless its share happens to be a multiple).
const CHILD_COMMIT_EVERY: usize = 64;
/// The environment variable that gives the child the broker to join; without it, the
/// helper test does nothing.
const CHILD_BOOTSTRAP_ENV: &str = "FJORD_TEST_KILLABLE_MEMBER_BOOTSTRAP";
/// The longest the consumer-protocol child runs: far beyond any scenario's [`DEADLINE`].
const CHILD_LIFETIME_MAX: Duration = Duration::from_secs(300);
/// Output lines of the child that report its work; the test harness prints other lines.
const PROCESSED: &str = "processed";
const COMMITTED: &str = "committed";
const NUMBERED: Numbered = Numbered {
    keys: 300,
    value_bytes: 48,
};
const DEADLINE: Duration = Duration::from_secs(60);

/// The member that is killed: a child process that prints one line per message it
/// processed, `processed PARTITION OFFSET`, and (the consumer-protocol child only) one per
/// partition after each successful commit, `committed PARTITION NEXT_OFFSET`. What it
/// prints is collected as it arrives.
struct ChildMember {
    child: Child,
    /// (partition, offset) of every message the child processed.
    read: Arc<Mutex<Vec<(i32, i64)>>>,
    /// The offset the child last committed, by partition.
    committed: Arc<Mutex<BTreeMap<i32, i64>>>,
    stderr: Arc<Mutex<String>>,
}

impl ChildMember {
    /// `kcat -G`, a classic member that commits nothing.
    fn kcat(bootstrap: &str) -> ChildMember {
        let session_timeout_ms = SESSION_TIMEOUT.as_millis().to_string();
        let settings = [
            ("broker.address.family", "v4"),
            ("session.timeout.ms", session_timeout_ms.as_str()),
            ("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ];
        let mut command = Command::new("kcat");
        let format = format!("{PROCESSED} %p %o\\n");
        command.args(["-b", bootstrap, "-u", "-f", &format]);
        for (name, value) in settings {
            command.arg("-X").arg(format!("{name}={value}"));
        }
        command.args(["-G", GROUP, TOPIC]);
        ChildMember::spawn(command)
    }

    /// This test binary running [`killable_member`]: a consumer-protocol member that
    /// commits after processing.
    fn consumer_protocol(bootstrap: &str) -> ChildMember {
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new(exe);
        command
            .args(["--ignored", "--exact", "--nocapture", "killable_member"])
            .env(CHILD_BOOTSTRAP_ENV, bootstrap);
        ChildMember::spawn(command)
    }

    fn spawn(mut command: Command) -> ChildMember {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let read = Arc::new(Mutex::new(Vec::new()));
        let committed = Arc::new(Mutex::new(BTreeMap::new()));
        let stdout = child.stdout.take().unwrap();
        let (read_sink, committed_sink) = (Arc::clone(&read), Arc::clone(&committed));
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut fields = line.split(' ');
                let kind = fields.next();
                if kind != Some(PROCESSED) && kind != Some(COMMITTED) {
                    // The test harness's own lines, in the consumer-protocol child.
                    continue;
                }
                let mut numbers = fields.map(|f| f.parse::<i64>());
                let (Some(Ok(partition)), Some(Ok(offset))) = (numbers.next(), numbers.next())
                else {
                    panic!("unexpected output from the killed member: {line:?}");
                };
                if kind == Some(PROCESSED) {
                    read_sink.lock().unwrap().push((partition as i32, offset));
                } else {
                    committed_sink
                        .lock()
                        .unwrap()
                        .insert(partition as i32, offset);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        ChildMember {
            child,
            read,
            committed,
            stderr,
        }
    }

    fn read(&self) -> Vec<(i32, i64)> {
        self.read.lock().unwrap().clone()
    }

    fn committed(&self) -> BTreeMap<i32, i64> {
        self.committed.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL: no LeaveGroup or leave heartbeat, no commit, no further heartbeat.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildMember {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The consumer-protocol member that [`ChildMember::consumer_protocol`] runs in a child
/// process: it processes each message (prints it), and commits after every
/// [`CHILD_COMMIT_EVERY`] of them, printing what it committed once the broker has
/// accepted it. It runs until it is killed, or at most [`CHILD_LIFETIME_MAX`].
#[test]
#[ignore = "a helper that the killed-member scenario runs in a child process"]
fn killable_member() {
    use std::io::Write;
    let Ok(bootstrap) = std::env::var(CHILD_BOOTSTRAP_ENV) else {
        eprintln!("{CHILD_BOOTSTRAP_ENV} is not set: nothing to do");
        return;
    };
    let consumer: BaseConsumer = GroupProtocol::Consumer
        .member_config(&bootstrap, GROUP)
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut next_by_partition: BTreeMap<i32, i64> = BTreeMap::new();
    let mut uncommitted = 0;
    let mut stdout = std::io::stdout();
    // The parent kills this process; the limit only ends a child whose parent died first
    // (itself killed, say), which would otherwise stay in the group forever.
    let started = Instant::now();
    while started.elapsed() < CHILD_LIFETIME_MAX {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let received = Received::from_message(&message);
        NUMBERED.check(&received);
        // Printed (and flushed) before anything is committed: the parent learns of every
        // processed message, even one whose commit the kill prevents.
        writeln!(
            stdout,
            "{PROCESSED} {} {}",
            received.partition, received.offset
        )
        .unwrap();
        stdout.flush().unwrap();
        next_by_partition.insert(received.partition, received.offset + 1);
        uncommitted += 1;
        if uncommitted < CHILD_COMMIT_EVERY {
            continue;
        }
        uncommitted = 0;
        // A commit that a rebalance overtakes fails; the messages are then read again by
        // whoever owns the partition next, as at-least-once allows.
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {
                for (partition, next) in &next_by_partition {
                    writeln!(stdout, "{COMMITTED} {partition} {next}").unwrap();
                }
                stdout.flush().unwrap();
            }
            Err(error) => eprintln!("commit failed: {error}"),
        }
    }
}

/// The member that survives: processes a message (records its id and where it was),
/// then commits.
struct Survivor {
    consumer: BaseConsumer,
    ids: BTreeSet<u64>,
    /// (partition, offset) of every message processed.
    read_at: BTreeSet<(i32, i64)>,
    uncommitted: usize,
}

impl Survivor {
    fn new(protocol: GroupProtocol, bootstrap: &str) -> Survivor {
        let consumer: BaseConsumer = protocol.member_config(bootstrap, GROUP).create().unwrap();
        consumer.subscribe(&[TOPIC]).unwrap();
        Survivor {
            consumer,
            ids: BTreeSet::new(),
            read_at: BTreeSet::new(),
            uncommitted: 0,
        }
    }

    /// Polls once; a message is processed and, every [`COMMIT_EVERY`] messages or when
    /// nothing more arrives, what has been processed is committed.
    fn poll(&mut self) {
        match self.consumer.poll(Duration::from_millis(20)) {
            Some(message) => {
                let received = Received::from_message(&message.unwrap());
                self.ids.insert(NUMBERED.check(&received));
                self.read_at.insert((received.partition, received.offset));
                self.uncommitted += 1;
                if self.uncommitted >= COMMIT_EVERY {
                    self.commit();
                }
            }
            None if self.uncommitted > 0 => self.commit(),
            None => {}
        }
    }

    /// Commits the offsets of everything processed. A commit that a rebalance overtakes
    /// fails; at-least-once tolerates that, the messages are read again.
    fn commit(&mut self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(KafkaError::ConsumerCommit(
                code @ (RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::StaleMemberEpoch),
            )) => eprintln!("commit overtaken by a rebalance: {code}"),
            Err(error) => panic!("commit: {error}"),
        }
        self.uncommitted = 0;
    }

    fn assignment(&self) -> BTreeSet<i32> {
        assigned_partitions(&self.consumer)
    }
}

/// Polls `survivor` until `done` holds; fails the test after [`DEADLINE`] with `what`
/// and what the other member (if any) read and said.
fn poll_until(
    survivor: &mut Survivor,
    other: Option<&ChildMember>,
    what: &str,
    mut done: impl FnMut(&Survivor) -> bool,
) {
    let started = Instant::now();
    while !done(survivor) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; the survivor has {:?} and read {} messages, \
             the other member read {:?}\n--- the other member's stderr\n{}",
            survivor.assignment(),
            survivor.ids.len(),
            other.map(|k| k.read().len()),
            other.map(ChildMember::stderr).unwrap_or_default()
        );
        survivor.poll();
    }
}

/// Where every acknowledged message went, and the log end offsets that makes.
#[derive(Default)]
struct Produced {
    id_at: HashMap<(i32, i64), u64>,
    log_end: BTreeMap<i32, i64>,
}

impl Produced {
    fn produce(&mut self, bootstrap: &str, ids: std::ops::Range<u64>) {
        for d in produce_numbered(&producer_config(bootstrap), TOPIC, &NUMBERED, ids) {
            self.id_at.insert((d.partition, d.offset), d.id);
            let end = self.log_end.entry(d.partition).or_default();
            *end = (*end).max(d.offset + 1);
        }
    }
}

/// The group's committed offsets, asked by a client outside the group.
fn committed(bootstrap: &str) -> Vec<Option<i64>> {
    let mut config = client_config(bootstrap);
    config.set("group.id", GROUP);
    let outsider: BaseConsumer = config.create().unwrap();
    let mut query = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        query.add_partition(TOPIC, partition);
    }
    let answer = outsider.committed_offsets(query, REQUEST_TIMEOUT).unwrap();
    (0..PARTITIONS)
        .map(
            |p| match answer.find_partition(TOPIC, p).unwrap().offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            },
        )
        .collect()
}

fjord_testkit::both_protocols!(
    a_killed_members_partitions_move_within_the_session_timeout_and_nothing_is_lost,
);

fn a_killed_members_partitions_move_within_the_session_timeout_and_nothing_is_lost(
    protocol: GroupProtocol,
) {
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let mut produced = Produced::default();

    // Batch 1: the survivor alone reads and commits all of it.
    produced.produce(&bootstrap, 0..BATCH);
    let mut survivor = Survivor::new(protocol, &bootstrap);
    poll_until(&mut survivor, None, "batch 1", |s| {
        s.ids.len() as u64 == BATCH
    });
    survivor.commit();
    assert_group_type(broker.addr(), GROUP, protocol);

    // The other member joins: the two split the partitions.
    let mut other = match protocol {
        GroupProtocol::Classic => ChildMember::kcat(&bootstrap),
        GroupProtocol::Consumer => ChildMember::consumer_protocol(&bootstrap),
    };
    poll_until(&mut survivor, Some(&other), "the split", |s| {
        s.assignment().len() == 3
    });
    let others_share: BTreeSet<i32> = (0..PARTITIONS)
        .filter(|p| !survivor.assignment().contains(p))
        .collect();

    // Batch 2: each reads its share.
    produced.produce(&bootstrap, BATCH..2 * BATCH);
    let others_part: BTreeSet<(i32, i64)> = produced
        .id_at
        .iter()
        .filter(|&(&(p, _), &id)| others_share.contains(&p) && id >= BATCH)
        .map(|(&at, _)| at)
        .collect();
    assert!(!others_part.is_empty());
    poll_until(&mut survivor, Some(&other), "batch 2", |_| {
        let read: BTreeSet<(i32, i64)> = other.read().into_iter().collect();
        read.is_superset(&others_part)
    });
    // A commit the other member was making as it read its last message lands (and is
    // reported) before the kill, so that what it reports committed is what the broker has.
    let settle_until = Instant::now() + Duration::from_millis(500);
    poll_until(&mut survivor, Some(&other), "settling", |_| {
        Instant::now() >= settle_until
    });
    let others_ids: BTreeSet<u64> = other.read().iter().map(|at| produced.id_at[at]).collect();
    assert!(
        others_ids.iter().all(|&id| id >= BATCH),
        "the other member started from the group's committed offsets, after batch 1"
    );
    // What the other member processed and had committed, and what it had not committed.
    let others_committed = other.committed();
    let (committed_by_other, uncommitted_by_other): (BTreeSet<(i32, i64)>, BTreeSet<_>) = other
        .read()
        .into_iter()
        .partition(|(p, o)| others_committed.get(p).is_some_and(|next| o < next));
    match protocol {
        GroupProtocol::Classic => assert!(committed_by_other.is_empty(), "kcat commits nothing"),
        GroupProtocol::Consumer => {
            assert!(
                !committed_by_other.is_empty(),
                "the consumer-protocol member committed after processing: {others_committed:?}"
            );
            assert!(
                !uncommitted_by_other.is_empty(),
                "the consumer-protocol member dies with messages processed and not committed \
                 (its share, {} messages, is a multiple of {CHILD_COMMIT_EVERY})",
                others_part.len()
            );
        }
    }

    // Kill the other member; batch 3 arrives while its partitions have no reader.
    other.kill();
    let killed_at = Instant::now();
    produced.produce(&bootstrap, 2 * BATCH..3 * BATCH);
    poll_until(&mut survivor, Some(&other), "the take-over", |s| {
        s.assignment().len() == PARTITIONS as usize
    });
    let took_over = killed_at.elapsed();
    assert!(
        took_over <= SESSION_TIMEOUT + TAKEOVER_MARGIN,
        "the killed member's partitions moved after {took_over:?}"
    );
    // Nor sooner: as in Kafka, a closed connection is not a leave. (The killed member's
    // last heartbeat may precede the kill by up to a heartbeat interval.)
    assert!(
        took_over >= SESSION_TIMEOUT - Duration::from_secs(1),
        "the killed member's partitions moved after {took_over:?}, before its session expired"
    );

    let all: BTreeSet<u64> = (0..3 * BATCH).collect();
    poll_until(&mut survivor, Some(&other), "reading everything", |s| {
        s.ids.union(&others_ids).count() == all.len()
    });
    survivor.commit();
    let processed: BTreeSet<u64> = survivor.ids.union(&others_ids).copied().collect();
    assert_eq!(processed, all, "no message is lost");
    assert!(
        survivor.read_at.is_superset(&uncommitted_by_other),
        "what the killed member read but never committed is read again"
    );
    assert!(
        survivor.read_at.is_disjoint(&committed_by_other),
        "what the killed member committed is not read again"
    );
    assert_eq!(
        committed(&bootstrap),
        (0..PARTITIONS)
            .map(|p| produced.log_end.get(&p).copied())
            .collect::<Vec<_>>(),
        "the survivor committed everything it processed"
    );
    eprintln!(
        "{protocol:?}: took over {took_over:?} after the kill; the killed member read {} \
         messages, {} of them uncommitted and read again",
        others_ids.len(),
        uncommitted_by_other.len()
    );
}
