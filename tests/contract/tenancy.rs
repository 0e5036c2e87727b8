//! Agent definitions, organisation gateway keys and conversation listings.

use chrono::Duration;
use serde_json::json;
use smooth_operator::store::agent::AgentDefinition;
use smooth_operator::store::ConversationQuery;
use uuid::Uuid;

use super::{epoch, micros, new_session, Env};

fn agent(id: &str, org: Option<&str>, name: &str) -> AgentDefinition {
    let mut value = json!({"id": id, "name": name, "enabledTools": [
        {"toolId": "lookup", "config": {"z": 1, "a": [1.5, "x"]}}]});
    if let Some(org) = org {
        value["organizationId"] = json!(org);
    }
    AgentDefinition::from_value(value).expect("a valid agent")
}

const A1: &str = "00000000-0000-4000-8000-00000000000a";
const A2: &str = "00000000-0000-4000-8000-00000000000b";
const A3: &str = "00000000-0000-4000-8000-00000000000C";

pub async fn agents_put_get_list_delete(env: Env) {
    assert_eq!(env.store.get_agent(A1).await.unwrap(), None);
    let first = env
        .store
        .put_agent(&agent(A1, Some("acme"), "One"))
        .await
        .unwrap();
    assert_eq!(first.created_at, micros(epoch()));
    assert_eq!(first.updated_at, first.created_at);
    assert_eq!(first.definition, agent(A1, Some("acme"), "One"));
    env.store
        .put_agent(&agent(A2, Some("other"), "Two"))
        .await
        .unwrap();
    env.store
        .put_agent(&agent(A3, None, "Three"))
        .await
        .unwrap();
    let replaced = env
        .store
        .put_agent(&agent(A1, Some("acme"), "One again"))
        .await
        .unwrap();
    assert_eq!(replaced.created_at, first.created_at, "{}", env.backend);
    assert_eq!(
        replaced.updated_at,
        micros(epoch() + Duration::milliseconds(3))
    );
    assert_eq!(replaced.definition.name.as_deref(), Some("One again"));
    assert_eq!(
        env.store.get_agent(A1).await.unwrap().as_ref(),
        Some(&replaced)
    );
    let ids = |records: Vec<smooth_operator::store::AgentRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.definition.id).collect()
    };
    // Byte order: the upper-case C sorts before the lower-case a and b.
    assert_eq!(
        ids(env.store.list_agents(None).await.unwrap()),
        [A3, A1, A2],
        "{}",
        env.backend
    );
    assert_eq!(
        ids(env.store.list_agents(Some("acme")).await.unwrap()),
        [A1]
    );
    assert!(env
        .store
        .list_agents(Some("nobody"))
        .await
        .unwrap()
        .is_empty());
    // Moving an agent to another organisation moves it between listings.
    env.store
        .put_agent(&agent(A1, Some("other"), "Moved"))
        .await
        .unwrap();
    assert_eq!(
        ids(env.store.list_agents(Some("other")).await.unwrap()),
        [A1, A2]
    );
    assert!(env.store.delete_agent(A1).await.unwrap());
    assert!(!env.store.delete_agent(A1).await.unwrap());
    assert_eq!(env.store.get_agent(A1).await.unwrap(), None);
    assert_eq!(ids(env.store.list_agents(None).await.unwrap()), [A3, A2]);
}

pub async fn gateway_keys_set_and_clear(env: Env) {
    assert_eq!(env.store.gateway_key("acme").await.unwrap(), None);
    env.store.set_gateway_key("acme", Some("k1")).await.unwrap();
    env.store
        .set_gateway_key("other", Some("k2"))
        .await
        .unwrap();
    assert_eq!(
        env.store.gateway_key("acme").await.unwrap().as_deref(),
        Some("k1")
    );
    env.store.set_gateway_key("acme", Some("k3")).await.unwrap();
    assert_eq!(
        env.store.gateway_key("acme").await.unwrap().as_deref(),
        Some("k3")
    );
    env.store.set_gateway_key("acme", None).await.unwrap();
    assert_eq!(env.store.gateway_key("acme").await.unwrap(), None);
    assert_eq!(
        env.store.gateway_key("other").await.unwrap().as_deref(),
        Some("k2")
    );
    // Clearing an organisation that never had a key is fine; names are exact.
    env.store.set_gateway_key("new", None).await.unwrap();
    assert_eq!(env.store.gateway_key("new").await.unwrap(), None);
    assert_eq!(env.store.gateway_key("OTHER").await.unwrap(), None);
}

/// A session's organisation and its owner (user, organisation).
type Spec<'a> = (Option<&'a str>, Option<(&'a str, Option<&'a str>)>);

pub async fn conversations_list_by_org_and_owner(env: Env) {
    // Created one millisecond apart: c0 oldest … c5 newest.
    let specs: [Spec; 6] = [
        (Some("acme"), Some(("u1", Some("acme")))),
        (Some("acme"), None),
        (Some("other"), Some(("u1", Some("other")))),
        (Some("acme"), Some(("u1", None))),
        (Some("acme"), Some(("u2", Some("acme")))),
        (None, None),
    ];
    let mut ids = Vec::new();
    for (org, owner) in specs {
        let s = env
            .store
            .create_session(new_session(org, owner))
            .await
            .unwrap();
        ids.push(s.conversation_id);
    }
    let list = |query: ConversationQuery| {
        let store = env.store.clone();
        async move {
            let (records, more) = store.list_conversations(query).await.unwrap();
            (
                records.into_iter().map(|c| c.id).collect::<Vec<Uuid>>(),
                more,
            )
        }
    };
    let all = |limit, offset| ConversationQuery {
        limit,
        offset,
        ..Default::default()
    };
    assert_eq!(
        list(all(10, 0)).await,
        (vec![ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]], false)
    );
    assert_eq!(list(all(2, 0)).await, (vec![ids[5], ids[4]], true));
    assert_eq!(list(all(2, 4)).await, (vec![ids[1], ids[0]], false));
    assert_eq!(list(all(2, 6)).await, (vec![], false));
    let acme = |owner: Option<(&str, Option<&str>)>, limit, offset| ConversationQuery {
        organization_id: Some("acme".into()),
        owner: owner.map(|(u, o)| (u.to_string(), o.map(str::to_string))),
        limit,
        offset,
        by_activity: false,
    };
    assert_eq!(
        list(acme(None, 10, 0)).await,
        (vec![ids[4], ids[3], ids[1], ids[0]], false),
        "{}",
        env.backend
    );
    assert!(list(acme(None, 3, 0)).await.1);
    assert_eq!(
        list(acme(None, 3, 1)).await,
        (vec![ids[3], ids[1], ids[0]], false)
    );
    // The owner's organisation must match exactly, a missing one included.
    assert_eq!(
        list(acme(Some(("u1", Some("acme"))), 10, 0)).await,
        (vec![ids[0]], false)
    );
    assert_eq!(
        list(acme(Some(("u1", None)), 10, 0)).await,
        (vec![ids[3]], false)
    );
    assert_eq!(list(acme(Some(("u3", None)), 10, 0)).await, (vec![], false));
    let every_org_u1 = ConversationQuery {
        owner: Some(("u1".into(), Some("other".into()))),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(list(every_org_u1).await, (vec![ids[2]], false));
    // Same instant: newest first, then by id.
    env.clock.step(Duration::zero());
    let mut tied = Vec::new();
    for _ in 0..3 {
        let s = env
            .store
            .create_session(new_session(Some("tie"), None))
            .await
            .unwrap();
        tied.push(s.conversation_id);
    }
    tied.sort();
    let tie = ConversationQuery {
        organization_id: Some("tie".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(list(tie).await, (tied, false), "{}", env.backend);
    let anonymous = env.store.get_conversation(ids[5]).await.unwrap().unwrap();
    assert_eq!(anonymous.organization_id, None);
    assert_eq!(anonymous.owner_id, None);
    assert_eq!(
        anonymous.created_at,
        micros(epoch() + Duration::milliseconds(5))
    );
    assert_eq!(
        env.store.get_conversation(Uuid::new_v4()).await.unwrap(),
        None
    );
}
