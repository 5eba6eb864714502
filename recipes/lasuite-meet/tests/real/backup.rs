//! Backup (real recipe): a room in meet's postgres survives backup, a wipe of the volumes and
//! the restore, read back through meet's API.

use harness::prelude::*;
use recipe_lasuite_meet::{meet::API, tag};

use crate::BACKEND;

/// A public room created in meet's database (Django's shell in the backend, as an operator
/// would), read back anonymously through `GET /api/v1.0/rooms/<slug>/`: its name, or `None`
/// when meet does not know the slug (404, or an unregistered room's `"id": null`).
#[derive(Debug, Default)]
pub(crate) struct RoomProbe {
    slug: Option<String>,
}

impl DataProbe for RoomProbe {
    fn describe(&self) -> String {
        "a public room in meet's database (RoomProbe in tests/real/backup.rs)".to_owned()
    }

    async fn seed(&mut self, app: &Deployment) -> anyhow::Result<Vec<u8>> {
        let name = format!("ccci-marker-{}", tag());
        let script = format!("from core.models import Room; r = Room.objects.create(name='{name}', access_level='public'); print(r.slug)");
        let out = app.exec_ok(BACKEND, &["python", "manage.py", "shell", "-c", &script]).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let slug = stdout.lines().last().unwrap_or_default().trim().to_owned();
        anyhow::ensure!(!slug.is_empty(), "meet's shell printed no slug");
        self.slug = Some(slug);
        Ok(name.into_bytes())
    }

    async fn read(&self, app: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let slug = self.slug.as_deref().ok_or_else(|| anyhow::format_err!("read before seed"))?;
        let resp = app.get(&format!("{API}/rooms/{slug}/")).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        anyhow::ensure!(resp.status == 200, "GET {API}/rooms/{slug}/: {} {}", resp.status, resp.text());
        let room = resp.json()?;
        if room["id"].is_null() {
            return Ok(None);
        }
        Ok(room["name"].as_str().map(|n| n.as_bytes().to_vec()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_room_in_meets_database() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut probe = RoomProbe::default();
    let trip = contract::backup_roundtrip(&suite, &mut probe).await?;
    anyhow::ensure!(!trip.wiped_volumes.is_empty(), "the wipe removed no volume");
    Ok(())
}
