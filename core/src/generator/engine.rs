//! The discrete-event engine: a queue of what happens next, in time order.
//!
//! Each queued action yields at most one ledger event and queues its
//! follow-ups (a batch's next sale, the buyer's scan of a voucher hours
//! later, a correction minutes later). The queue holds one entry per open
//! batch and per voucher in transit, so a run of any length streams.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::{Builder, Uuid};

use super::batches::{BatchRef, Batches, Cert};
use super::catalogue::Catalogue;
use super::clock::{self, DAY, DELIVERY};
use super::config::{GenConfig, Shares};
use super::plants::{self, Planted};
use super::registry::World;
use crate::category::{Category, CertificateKind};
use crate::event::{LedgerEvent, Void};
use crate::rules::LedgerRules;

/// Where a purchase comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// An outside supplier of the lot's category (index into its list).
    Outside(usize),
    /// A person without papers (a smuggler's lot).
    Shadow(usize),
    /// A platform merchant's voucher, scanned on receipt.
    Voucher { seller: u32, code: String },
}

/// A purchase about to be written.
#[derive(Debug, Clone)]
pub(crate) struct Lot {
    pub merchant: u32,
    pub product: u16,
    pub amount: i64,
    pub price: i64,
    pub source: Source,
    pub certs: Vec<Cert>,
    pub production: Option<NaiveDate>,
    pub expiry: Option<NaiveDate>,
}

/// What to do once a correction is written.
#[derive(Debug)]
pub(crate) enum AfterVoid {
    /// The voided sale's quantity is back on hand; sell on.
    Resume { batch: BatchRef, restore: i64 },
    /// Write the purchase again, correctly.
    Rerecord(Box<Lot>),
}

#[derive(Debug)]
pub(crate) struct VoidPlan {
    pub merchant: u32,
    pub entry: Uuid,
    pub reason: &'static str,
    pub then: AfterVoid,
}

#[derive(Debug)]
pub(crate) enum Action {
    /// Local midnight: book the day's deliveries from outside.
    Day,
    /// A lot from an outside supplier reaches a first-hop dealer.
    Delivery,
    /// A purchase: a voucher scanned by its buyer, or a corrected entry.
    Receive(Box<Lot>),
    /// A batch's next movement: a sale, a disposal or a stock correction.
    Step(BatchRef),
    Void(Box<VoidPlan>),
}

struct Scheduled {
    at: i64,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so the max-heap pops the earliest (ties in queueing order).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

pub(crate) struct Engine {
    pub world: World,
    /// Who carries which planted case (the ground truth's subjects).
    pub planted: Planted,
    pub catalogue: Catalogue,
    pub shares: Shares,
    /// Certificate groups per category, from the shipped ledger rules, so
    /// generated papers follow the rules' data.
    pub required: BTreeMap<Category, Vec<Vec<CertificateKind>>>,
    pub rng: ChaCha8Rng,
    pub batches: Batches,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    end: i64,
    deliveries_per_day: f64,
}

impl Engine {
    pub fn new(config: &GenConfig) -> Self {
        // Separate streams: the registry does not shift when trading changes.
        let mut registry_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5348_4941_4e5f_5245);
        let catalogue = Catalogue::new(config.cold_chain_only);
        let mut world = World::build(config, &catalogue, &mut registry_rng);
        let planted = plants::plant(config, &mut world);
        let first_day = config.end_date - chrono::Duration::days(i64::from(config.days.max(1)) - 1);
        let mut engine = Engine {
            world,
            planted,
            catalogue,
            shares: config.shares.clone(),
            required: LedgerRules::builtin().required_certificates,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            batches: Batches::default(),
            queue: BinaryHeap::new(),
            seq: 0,
            end: clock::midnight(config.end_date) + DAY - 1,
            deliveries_per_day: config.transactions_per_day as f64
                / config.events_per_delivery.max(1.0),
        };
        if config.days > 0 {
            engine.schedule(clock::midnight(first_day), Action::Day);
        }
        engine
    }

    pub fn schedule(&mut self, at: i64, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            action,
        });
    }

    /// The next event in time order, or `None` when the period is over.
    pub fn next_event(&mut self) -> Option<LedgerEvent> {
        while let Some(Scheduled { at, action, .. }) = self.queue.pop() {
            if at > self.end {
                // Everything still queued is later: vouchers in transit and
                // stock on hand at the end of the period.
                self.queue.clear();
                return None;
            }
            let event = match action {
                Action::Day => {
                    self.book_day(at);
                    None
                }
                Action::Delivery => self.delivery(at),
                Action::Receive(lot) => Some(self.receive(at, *lot)),
                Action::Step(batch) => self.step(at, batch),
                Action::Void(plan) => Some(self.void(at, *plan)),
            };
            if event.is_some() {
                return event;
            }
        }
        None
    }

    fn book_day(&mut self, midnight: i64) {
        let expected = self.deliveries_per_day * self.rng.random_range(0.85..1.15);
        let mut n = expected.floor() as u64;
        if self
            .rng
            .random_bool((expected - expected.floor()).clamp(0.0, 1.0))
        {
            n += 1;
        }
        for _ in 0..n {
            let at = DELIVERY.on_day(midnight, &mut self.rng);
            self.schedule(at, Action::Delivery);
        }
        if midnight + DAY <= self.end {
            self.schedule(midnight + DAY, Action::Day);
        }
    }

    /// A UUIDv7 for an entry made at `t`, from the seeded stream.
    pub fn entry_id(&mut self, t: i64) -> Uuid {
        let mut bytes = [0u8; 10];
        self.rng.fill(&mut bytes);
        let ms = clock::millis(t) + self.rng.random_range(0..1000);
        Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
    }

    pub fn merchant_id(&self, m: u32) -> String {
        self.world
            .merchants
            .get(m as usize)
            .map(|x| x.id.clone())
            .unwrap_or_default()
    }

    fn void(&mut self, t: i64, plan: VoidPlan) -> LedgerEvent {
        let event = LedgerEvent::Void(Void {
            entry_id: self.entry_id(t),
            merchant_id: self.merchant_id(plan.merchant),
            voided_entry_id: plan.entry,
            reason: plan.reason.to_owned(),
            at: clock::to_datetime(t),
        });
        let minutes = self.rng.random_range(1..6) * clock::MINUTE;
        match plan.then {
            AfterVoid::Resume { batch, restore } => {
                if let Some(b) = self.batches.get_mut(batch) {
                    b.held += restore;
                }
                self.schedule(t + minutes, Action::Step(batch));
            }
            AfterVoid::Rerecord(lot) => self.schedule(t + minutes, Action::Receive(lot)),
        }
        event
    }

    /// Open batches right now (the generator's working memory).
    pub fn open_batches(&self) -> usize {
        self.batches.count()
    }
}
