//! One workload on two backends, every answer compared: what the per-backend behaviours do not
//! pin down (BM25 scores, tie orders, chunk ids) must still be the same.

use smooth_operator::protocol::MessageDirection::{Inbound, Outbound};
use smooth_operator::store::acl::{Access, Acl};
use smooth_operator::store::{ChunkHit, ConversationQuery, PageRequest, Reader};

use super::knowledge::{doc, search};
use super::{new_session, text_message, Env};

/// A corpus with repeated, rare and shared words over documents of different lengths.
const CORPUS: &[(&str, &[&str])] = &[
    ("guide/returns.md", &[
        "Returns: you can return any item within 30 days of delivery for a full refund.",
        "Refunds are paid to the original payment method within 5 business days.",
    ]),
    ("guide/shipping.md", &[
        "We ship worldwide. Standard shipping takes 3 to 7 business days; express shipping 1 to 2.",
        "Shipping is free for orders over 50 euros. Tracking numbers arrive by e-mail.",
    ]),
    ("faq.md", &[
        "Can I change my order? Orders can be changed until they are shipped.",
        "Gift cards never expire and cannot be refunded.",
        "Our café in Zürich serves crème brûlée on Sundays.",
    ]),
    ("internal/pricing.md", &[
        "Internal: margins on express shipping are negative; do not promise refunds on shipping.",
    ]),
    ("legal.md", &[
        "The return policy does not limit your statutory rights. Returns of opened software are excluded.",
    ]),
];

const QUERIES: &[&str] = &[
    "refund",
    "return policy",
    "shipping days",
    "express shipping refunds",
    "cafe zurich creme brulee",
    "gift card expire",
    "orders changed shipped",
    "business days",
    "tracking e-mail",
    "statutory rights software",
    "nothing matches this zzz",
];

async fn load(env: &Env) {
    for (source, chunks) in CORPUS {
        let acl = source.starts_with("internal/").then(|| Acl {
            public: false,
            users: vec![],
            groups: vec!["staff".into()],
        });
        env.store
            .put_document(doc(source, chunks, acl))
            .await
            .unwrap();
    }
}

fn same_hits(query: &str, a: &[ChunkHit], b: &[ChunkHit]) {
    let key = |h: &ChunkHit| (h.chunk_id, h.document_id.clone(), h.text.clone());
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b.iter().map(key).collect::<Vec<_>>(),
        "{query:?}: the backends return different chunks or orders"
    );
    for (x, y) in a.iter().zip(b) {
        let tolerance = 1e-9 * x.score.abs().max(1e-12);
        assert!(
            (x.score - y.score).abs() <= tolerance,
            "{query:?}: chunk {} scores {} on SQLite but {} on Postgres",
            x.chunk_id,
            x.score,
            y.score
        );
    }
}

pub async fn backends_agree(sqlite: Env, postgres: Env) {
    load(&sqlite).await;
    load(&postgres).await;
    let staff = Access {
        user_id: Some("u9".into()),
        groups: vec!["staff".into()],
    };
    let anonymous = Access::anonymous();
    for query in QUERIES {
        let Some(_) = smooth_operator::knowledge::query::match_expression(query) else {
            continue;
        };
        for (reader, limit) in [
            (Reader::Admin, 20),
            (Reader::As(&anonymous), 20),
            (Reader::As(&staff), 3),
        ] {
            let a = search(&sqlite, query, reader, limit).await;
            let b = search(&postgres, query, reader, limit).await;
            same_hits(query, &a, &b);
        }
    }
    assert_eq!(
        sqlite.store.list_documents().await.unwrap(),
        postgres.store.list_documents().await.unwrap()
    );

    // Conversations and messages under the same clock readings.
    for env in [&sqlite, &postgres] {
        for i in 0..4 {
            let mut new = new_session(Some("acme"), Some(("u1", Some("acme"))));
            new.session_id = uuid::Uuid::from_u128(i + 1);
            new.conversation_id = uuid::Uuid::from_u128(100 + i);
            new.user_participant_id = uuid::Uuid::from_u128(200 + i);
            new.agent_participant_id = uuid::Uuid::from_u128(300 + i);
            let s = env.store.create_session(new).await.unwrap();
            for j in 0..3u128 {
                let mut m = text_message(&s, if j % 2 == 0 { Inbound } else { Outbound }, "hi");
                m.id = uuid::Uuid::from_u128(1000 + i * 10 + j);
                env.store.append_message(m).await.unwrap();
            }
            // Newer clients: renames, resumes with and without capabilities, contacts.
            if i % 2 == 0 {
                assert!(env
                    .store
                    .rename_conversation(s.conversation_id, &format!("c{i}"))
                    .await
                    .unwrap());
            }
            if i >= 2 {
                let mut again = new_session(Some("acme"), Some(("u1", Some("acme"))));
                again.session_id = uuid::Uuid::from_u128(50 + i);
                again.conversation_id = s.conversation_id;
                again.user_participant_id = s.user_participant_id;
                again.agent_participant_id = s.agent_participant_id;
                again.supports = (i == 3).then(|| vec!["choice_chips".to_string()]);
                let resumed = env.store.resume_session(again).await.unwrap();
                env.store
                    .set_contact(resumed.session_id, Some("Ada"), None, Some("+15550100"))
                    .await
                    .unwrap();
            }
        }
    }
    for by_activity in [false, true] {
        let query = ConversationQuery {
            organization_id: Some("acme".into()),
            limit: 10,
            by_activity,
            ..Default::default()
        };
        assert_eq!(
            sqlite
                .store
                .list_conversations(query.clone())
                .await
                .unwrap(),
            postgres.store.list_conversations(query).await.unwrap(),
            "by_activity {by_activity}"
        );
    }
    for i in 0..4u128 {
        let conversation = uuid::Uuid::from_u128(100 + i);
        assert_eq!(
            sqlite.store.latest_session(conversation).await.unwrap(),
            postgres.store.latest_session(conversation).await.unwrap()
        );
    }
    let conversations = ConversationQuery {
        organization_id: Some("acme".into()),
        limit: 3,
        offset: 1,
        ..Default::default()
    };
    assert_eq!(
        sqlite
            .store
            .list_conversations(conversations.clone())
            .await
            .unwrap(),
        postgres
            .store
            .list_conversations(conversations)
            .await
            .unwrap()
    );
    for i in 0..4u128 {
        let conversation = uuid::Uuid::from_u128(100 + i);
        let page = PageRequest {
            limit: 2,
            ..Default::default()
        };
        let a = sqlite
            .store
            .list_messages(conversation, page.clone())
            .await
            .unwrap();
        let b = postgres
            .store
            .list_messages(conversation, page)
            .await
            .unwrap();
        assert_eq!(a.messages, b.messages);
        assert_eq!(a.has_more, b.has_more);
        assert_eq!(
            sqlite.store.recent_messages(conversation, 2).await.unwrap(),
            postgres
                .store
                .recent_messages(conversation, 2)
                .await
                .unwrap()
        );
        let session = uuid::Uuid::from_u128(i + 1);
        assert_eq!(
            sqlite.store.get_session(session).await.unwrap(),
            postgres.store.get_session(session).await.unwrap()
        );
    }
}
