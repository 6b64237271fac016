-- The Harbor 1.2 `registry` database: schema and seed rows, written for the lab
-- from the facts in shared/reference/harbor-1.2-on-k8s.md (15 tables, utf8).
-- Faithful to the release on purpose: `alembic_version` has NO primary key,
-- which is exactly what the migration runbook must notice and fix before a
-- Galera or Group Replication import.

CREATE DATABASE registry CHARACTER SET utf8;
USE registry;

CREATE TABLE access (
  access_id int NOT NULL AUTO_INCREMENT,
  access_code char(1),
  comment varchar(30),
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (access_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT INTO access (access_code, comment) VALUES
  ('M', 'Management access for project'),
  ('R', 'Read access for project'),
  ('W', 'Write access for project'),
  ('D', 'Delete access for project'),
  ('S', 'Search access for project');

CREATE TABLE role (
  role_id int NOT NULL AUTO_INCREMENT,
  role_mask int DEFAULT 0 NOT NULL,
  role_code varchar(20),
  name varchar(20),
  PRIMARY KEY (role_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT INTO role (role_code, name) VALUES
  ('MDRWS', 'projectAdmin'),
  ('RWS', 'developer'),
  ('RS', 'guest');

CREATE TABLE user (
  user_id int NOT NULL AUTO_INCREMENT,
  username varchar(32),
  email varchar(255),
  password varchar(40) NOT NULL,
  realname varchar(255) NOT NULL,
  comment varchar(30),
  deleted tinyint(1) DEFAULT 0 NOT NULL,
  reset_uuid varchar(40) DEFAULT NULL,
  salt varchar(40) DEFAULT NULL,
  sysadmin_flag tinyint(1),
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (user_id),
  UNIQUE (username),
  UNIQUE (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- An empty salt makes the ui set admin's password from HARBOR_ADMIN_PASSWORD on first start.
INSERT INTO user (username, email, password, realname, comment, deleted, sysadmin_flag, creation_time, update_time) VALUES
  ('admin', 'admin@example.com', '', 'system admin', 'admin user', 0, 1, NOW(), NOW()),
  ('anonymous', 'anonymous@example.com', '', 'anonymous user', 'anonymous user', 1, 0, NOW(), NOW());

CREATE TABLE project (
  project_id int NOT NULL AUTO_INCREMENT,
  owner_id int NOT NULL,
  name varchar(30) NOT NULL,
  creation_time timestamp NULL,
  update_time timestamp NULL,
  deleted tinyint(1) DEFAULT 0 NOT NULL,
  public tinyint(1) DEFAULT 0 NOT NULL,
  PRIMARY KEY (project_id),
  FOREIGN KEY (owner_id) REFERENCES user (user_id),
  UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT INTO project (owner_id, name, creation_time, update_time, public) VALUES
  (1, 'library', NOW(), NOW(), 1);

CREATE TABLE project_member (
  project_id int NOT NULL,
  user_id int NOT NULL,
  role int NOT NULL,
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (project_id, user_id),
  FOREIGN KEY (role) REFERENCES role (role_id),
  FOREIGN KEY (project_id) REFERENCES project (project_id),
  FOREIGN KEY (user_id) REFERENCES user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT INTO project_member (project_id, user_id, role, creation_time, update_time) VALUES
  (1, 1, 1, NOW(), NOW());

CREATE TABLE access_log (
  log_id int NOT NULL AUTO_INCREMENT,
  username varchar(32) NOT NULL,
  project_id int NOT NULL,
  repo_name varchar(256),
  repo_tag varchar(128),
  GUID varchar(64),
  operation varchar(20) NOT NULL,
  op_time timestamp NULL,
  PRIMARY KEY (log_id),
  INDEX pid_optime (project_id, op_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE repository (
  repository_id int NOT NULL AUTO_INCREMENT,
  name varchar(255) NOT NULL,
  project_id int NOT NULL,
  description text,
  pull_count int DEFAULT 0 NOT NULL,
  star_count int DEFAULT 0 NOT NULL,
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (repository_id),
  UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE replication_policy (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(256),
  project_id int NOT NULL,
  target_id int NOT NULL,
  enabled tinyint(1) NOT NULL DEFAULT 1,
  description text,
  deleted tinyint(1) DEFAULT 0 NOT NULL,
  cron_str varchar(256),
  start_time timestamp NULL,
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- `password` holds the target's password encrypted with the secret key, never in clear.
CREATE TABLE replication_target (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(64),
  url varchar(64),
  username varchar(255),
  password varchar(128),
  target_type tinyint(1) NOT NULL DEFAULT 0,
  insecure tinyint(1) NOT NULL DEFAULT 0,
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE replication_job (
  id int NOT NULL AUTO_INCREMENT,
  status varchar(64) NOT NULL,
  policy_id int NOT NULL,
  repository varchar(256) NOT NULL,
  operation varchar(64) NOT NULL,
  tags varchar(16384),
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  INDEX policy (policy_id),
  INDEX poid_uptime (policy_id, update_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE img_scan_job (
  id int NOT NULL AUTO_INCREMENT,
  status varchar(64) NOT NULL,
  repository varchar(256) NOT NULL,
  tag varchar(128) NOT NULL,
  digest varchar(128),
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE img_scan_overview (
  id int NOT NULL AUTO_INCREMENT,
  image_digest varchar(128) NOT NULL,
  scan_job_id int NOT NULL,
  severity int NOT NULL DEFAULT 0,
  components_overview varchar(2048),
  details_key varchar(128),
  creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
  update_time timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE (image_digest)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE clair_vuln_timestamp (
  id int NOT NULL AUTO_INCREMENT,
  namespace varchar(128) NOT NULL,
  last_update timestamp NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (namespace)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE properties (
  id int NOT NULL AUTO_INCREMENT,
  k varchar(64) NOT NULL,
  v varchar(128) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE (k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE alembic_version (
  version_num varchar(32) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

INSERT INTO alembic_version VALUES ('1.2.0');
