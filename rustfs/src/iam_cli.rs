//! `rustfs-admin user|group|policy`: users, access keys, groups and policies through the
//! admin API (`iam_admin`). A new user's or key's secret is printed once, when it is made;
//! a secret given on the command line goes in the request body, never in a URL.

use bytes::Bytes;
use clap::Subcommand;

use crate::admin::PREFIX;
use crate::admin_client::AdminClient;
use crate::iam_admin::Credentials;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user (its access key is its name); prints its secret key.
    Add {
        name: String,
        /// The secret key (8 to 64 characters); generated when not given.
        #[arg(long, env = "RUSTFS_NEW_USER_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// An e-mail address (for ACL grants by e-mail).
        #[arg(long)]
        email: Option<String>,
    },
    /// Remove a user and its access keys.
    Remove {
        name: String,
    },
    /// Users, their groups, policies and other access keys.
    List,
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    /// Another access key of a user (prints its secret), or remove one.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    Add {
        user: String,
    },
    Remove {
        /// The access key to remove.
        key: String,
    },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    Add {
        name: String,
    },
    Remove {
        name: String,
    },
    /// Put a user in a group.
    AddMember {
        group: String,
        user: String,
    },
    RemoveMember {
        group: String,
        user: String,
    },
    List,
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Add or replace a named policy from a file (`-`: standard input), checked by the server.
    Add {
        name: String,
        file: std::path::PathBuf,
    },
    Remove {
        name: String,
    },
    /// Policies and their documents.
    List,
    /// Attach a policy to a user or a group.
    Attach {
        name: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    Detach {
        name: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn print(v: &serde_json::Value, json: bool, text: impl FnOnce(&serde_json::Value) -> String) {
    let s = if json { format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default()) } else { text(v) };
    print!("{s}");
}

fn credentials(v: &serde_json::Value) -> String {
    match serde_json::from_value::<Credentials>(v.clone()) {
        Ok(c) => format!("user:       {}\naccess key: {}\nsecret key: {}\n", c.user, c.access_key, c.secret_key),
        Err(_) => format!("{v}\n"),
    }
}

async fn listing(c: &AdminClient) -> Result<serde_json::Value, String> {
    c.json("GET", &format!("{PREFIX}iam")).await
}

pub async fn user(c: &AdminClient, cmd: UserCmd, json: bool) -> Result<(), String> {
    match cmd {
        UserCmd::Add { name, secret, email } => {
            let mut q = format!("{PREFIX}iam/users?name={}", enc(&name));
            if let Some(e) = email {
                q.push_str(&format!("&email={}", enc(&e)));
            }
            let body = serde_json::json!({ "secret": secret }).to_string();
            let v = c.json_with("POST", &q, Bytes::from(body)).await?;
            print(&v, json, credentials);
        }
        UserCmd::Remove { name } => {
            c.json("DELETE", &format!("{PREFIX}iam/users?name={}", enc(&name))).await?;
        }
        UserCmd::Enable { name } => {
            c.json("POST", &format!("{PREFIX}iam/users/enable?name={}", enc(&name))).await?;
        }
        UserCmd::Disable { name } => {
            c.json("POST", &format!("{PREFIX}iam/users/disable?name={}", enc(&name))).await?;
        }
        UserCmd::List => {
            let v = listing(c).await?;
            print(&v, json, |v| {
                let mut o = String::new();
                for u in v["users"].as_array().into_iter().flatten() {
                    o.push_str(&format!(
                        "{:<24} {:<8} groups: {}  policies: {}  keys: {}\n",
                        u["name"].as_str().unwrap_or("?"),
                        if u["enabled"].as_bool().unwrap_or(false) { "enabled" } else { "disabled" },
                        join(&u["groups"]),
                        join(&u["policies"]),
                        join(&u["keys"]),
                    ));
                }
                for n in v["configured"].as_array().into_iter().flatten() {
                    o.push_str(&format!("{:<24} (configuration)\n", n.as_str().unwrap_or("?")));
                }
                o
            });
        }
        UserCmd::Key { cmd: KeyCmd::Add { user } } => {
            let v = c.json("POST", &format!("{PREFIX}iam/keys?user={}", enc(&user))).await?;
            print(&v, json, credentials);
        }
        UserCmd::Key { cmd: KeyCmd::Remove { key } } => {
            c.json("DELETE", &format!("{PREFIX}iam/keys?access_key={}", enc(&key))).await?;
        }
    }
    Ok(())
}

fn join(v: &serde_json::Value) -> String {
    let items: Vec<&str> = v.as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect();
    if items.is_empty() { "-".into() } else { items.join(",") }
}

pub async fn group(c: &AdminClient, cmd: GroupCmd, json: bool) -> Result<(), String> {
    match cmd {
        GroupCmd::Add { name } => c.json("POST", &format!("{PREFIX}iam/groups?name={}", enc(&name))).await.map(drop),
        GroupCmd::Remove { name } => {
            c.json("DELETE", &format!("{PREFIX}iam/groups?name={}", enc(&name))).await.map(drop)
        }
        GroupCmd::AddMember { group, user } => c
            .json("POST", &format!("{PREFIX}iam/groups/members?group={}&user={}", enc(&group), enc(&user)))
            .await
            .map(drop),
        GroupCmd::RemoveMember { group, user } => c
            .json("DELETE", &format!("{PREFIX}iam/groups/members?group={}&user={}", enc(&group), enc(&user)))
            .await
            .map(drop),
        GroupCmd::List => {
            let v = listing(c).await?;
            print(&v, json, |v| {
                v["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        format!(
                            "{:<24} members: {}  policies: {}\n",
                            g["name"].as_str().unwrap_or("?"),
                            join(&g["members"]),
                            join(&g["policies"])
                        )
                    })
                    .collect()
            });
            Ok(())
        }
    }
}

fn target(user: &Option<String>, group: &Option<String>) -> String {
    match (user, group) {
        (Some(u), _) => format!("user={}", enc(u)),
        (None, Some(g)) => format!("group={}", enc(g)),
        (None, None) => String::new(),
    }
}

pub async fn policy(c: &AdminClient, cmd: PolicyCmd, json: bool) -> Result<(), String> {
    match cmd {
        PolicyCmd::Add { name, file } => {
            let doc = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
            } else {
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?
            };
            c.json_with("PUT", &format!("{PREFIX}iam/policies?name={}", enc(&name)), Bytes::from(doc)).await.map(drop)
        }
        PolicyCmd::Remove { name } => {
            c.json("DELETE", &format!("{PREFIX}iam/policies?name={}", enc(&name))).await.map(drop)
        }
        PolicyCmd::List => {
            let v = listing(c).await?;
            print(&v, json, |v| {
                v["policies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        format!("{}\n  {}\n", p["name"].as_str().unwrap_or("?"), p["document"].as_str().unwrap_or(""))
                    })
                    .collect()
            });
            Ok(())
        }
        PolicyCmd::Attach { name, user, group } => c
            .json("POST", &format!("{PREFIX}iam/policies/attach?name={}&{}", enc(&name), target(&user, &group)))
            .await
            .map(drop),
        PolicyCmd::Detach { name, user, group } => c
            .json("POST", &format!("{PREFIX}iam/policies/detach?name={}&{}", enc(&name), target(&user, &group)))
            .await
            .map(drop),
    }
}
