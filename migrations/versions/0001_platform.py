"""Platform: database roles, regions, districts, agencies, users, sessions, API tokens.

Revision ID: 0001_platform
Revises:
"""
import os

from alembic import op

revision = "0001_platform"
down_revision = None
branch_labels = None
depends_on = None

# Roles are cluster-wide, so each is created only if missing.
#  qorgau_owner  owns the schema objects; cannot log in.
#  qorgau_app    the application: logs in, owns nothing, never bypasses row-level security.
ROLES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qorgau_owner') THEN
    CREATE ROLE qorgau_owner NOLOGIN NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qorgau_app') THEN
    CREATE ROLE qorgau_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO qorgau_app;
"""

TABLES = """
CREATE TABLE regions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9-]{2,40}$'),
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Asia/Aqtau',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE districts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id   bigint NOT NULL REFERENCES regions(id),
    code        text NOT NULL CHECK (code ~ '^[a-z0-9-]{2,40}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (region_id, code)
);

CREATE TABLE agencies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9-]{2,60}$'),
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN
                  ('school', 'social_services', 'police', 'health', 'psychology', 'prosecutor', 'ngo')),
    region_id   bigint NOT NULL REFERENCES regions(id),
    district_id bigint REFERENCES districts(id),
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agencies_region_idx ON agencies (region_id);

CREATE TABLE users (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id          bigint NOT NULL REFERENCES agencies(id),
    username           text NOT NULL CHECK (username ~ '^[a-z0-9._-]{3,60}$'),
    full_name          text NOT NULL,
    email              text,
    password_hash      text NOT NULL,
    preferred_language text NOT NULL DEFAULT 'ru' CHECK (preferred_language IN ('kk', 'ru', 'en')),
    totp_secret        text,
    totp_enrolled_at   timestamptz,
    totp_last_step     bigint,
    disabled_at        timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_agency_idx ON users (agency_id);

CREATE TABLE user_roles (
    user_id  bigint NOT NULL REFERENCES users(id),
    role     text NOT NULL CHECK (role IN
               ('caseworker', 'supervisor', 'oversight', 'council', 'agency_admin', 'system_admin')),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

-- A signed-in browser session. The cookie carries a random id; only its SHA-256 is stored, so a
-- copy of this table cannot be replayed. Deleting a user's rows ends every session they have.
CREATE TABLE web_sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id),
    mfa          boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    client_addr  text,
    user_agent   text
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);

-- Failed sign-ins counted per user name (known or not, so the lockout reveals nothing).
CREATE TABLE sign_in_throttle (
    username_key  text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz
);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    kind         text NOT NULL CHECK (kind IN ('personal', 'agency_system')),
    user_id      bigint REFERENCES users(id),
    agency_id    bigint NOT NULL REFERENCES agencies(id),
    name         text NOT NULL,
    scopes       text[] NOT NULL DEFAULT '{}',
    mfa          boolean NOT NULL DEFAULT false,
    created_by   bigint REFERENCES users(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (kind <> 'personal' OR (user_id IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX api_tokens_agency_idx ON api_tokens (agency_id);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
"""

OWNED = ["regions", "districts", "agencies", "users", "user_roles", "web_sessions",
         "sign_in_throttle", "api_tokens"]

GRANTS = """
GRANT SELECT ON regions, districts TO qorgau_app;
GRANT SELECT, INSERT, UPDATE ON agencies, users, api_tokens TO qorgau_app;
GRANT SELECT, INSERT, DELETE ON user_roles TO qorgau_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON web_sessions, sign_in_throttle TO qorgau_app;
GRANT INSERT ON regions, districts TO qorgau_app;
"""


def upgrade() -> None:
    op.execute(ROLES)
    password = os.environ.get("APP_DB_PASSWORD")
    if password:
        op.execute(f"ALTER ROLE qorgau_app PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    op.execute(TABLES)
    for table in OWNED:
        op.execute(f"ALTER TABLE {table} OWNER TO qorgau_owner")
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE api_tokens, sign_in_throttle, web_sessions, user_roles, users, "
               "agencies, districts, regions")
