//! One behaviour suite for every storage backend: each test below runs once against SQLite (in
//! memory) and once against a fresh database of a private PostgreSQL (`tests/common/postgres.rs`),
//! as `sqlite::<name>` and `postgres::<name>`. A behaviour that differs between the backends
//! fails one of the two. `backends_agree` additionally replays one workload on both and
//! compares every answer.

mod common;
#[path = "contract/mod.rs"]
mod contract;

use contract::*;

/// Generates `sqlite::<name>` and `postgres::<name>` for each behaviour `async fn <name>(Env)`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::contract::$name(super::Env::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::contract::$name(super::Env::postgres().await).await
                }
            )*
        }
    };
}

contract!(
    ping_answers,
    sessions_round_trip_with_clock_timestamps,
    a_failed_session_leaves_nothing_behind,
    message_pages_follow_cursors,
    before_is_a_strict_upper_bound,
    pages_keep_insertion_order_when_timestamps_tie,
    unknown_cursors_are_refused,
    recent_messages_are_chronological,
    messages_keep_their_content,
    documents_replace_keeping_created_at,
    documents_list_in_byte_order,
    full_text_ranks_like_bm25,
    full_text_folds_case_diacritics_and_stems,
    full_text_stems_only_mid_length_words,
    full_text_filters_by_reader,
    full_text_widens_past_restricted_matches,
    deleted_documents_leave_the_index,
    vector_search_orders_by_cosine,
    agents_put_get_list_delete,
    gateway_keys_set_and_clear,
    conversations_list_by_org_and_owner,
    otp_codes_put_get_replace_delete,
    otp_attempts_are_spent_atomically,
    otp_heartbeat_verified_and_workflow,
    secrets_keep_the_first_writer,
    text_keeps_every_character,
    resumed_sessions_share_the_conversation,
    resumes_keep_or_replace_capabilities,
    latest_session_breaks_ties_by_insertion,
    conversations_carry_title_count_and_activity,
    conversations_list_by_activity,
    renames_keep_every_character,
    contacts_fill_in_and_keep,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_agree() {
    contract::backends_agree(Env::sqlite().await, Env::postgres().await).await
}
