"""Users as Harbor 1.2 keeps them: the ``user`` table of the external database.

Passwords are checked the Harbor 1.2 way (:mod:`.passwords`, from ``dao.LoginByDb``). On first
start the ui gives the admin (user 1) the password from ``HARBOR_ADMIN_PASSWORD`` when its stored
salt is empty, exactly once, with a fresh salt (Harbor ``src/ui/main.go`` ``updateInitPassword``
then ``dao.ChangeUserPassword``): later restarts with a different value change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymysql

from .errors import BackendError
from .passwords import encrypt, login_matches, random_salt
from .settings import DatabaseSettings

ADMIN_USER_ID = 1
_COLUMNS = "user_id, username, email, password, realname, comment, deleted, salt, sysadmin_flag, " \
           "creation_time, update_time"


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    email: str
    realname: str
    comment: str
    deleted: bool
    sysadmin: bool
    creation_time: str
    update_time: str

    @property
    def role(self) -> str:
        return "sysadmin" if self.sysadmin else "user"

    def as_json(self) -> dict[str, object]:
        """The shape of Harbor 1.2's ``GET /api/users/current`` (no password, no salt)."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "email": self.email,
            "password": "",
            "realname": self.realname,
            "comment": self.comment,
            "deleted": int(self.deleted),
            "role_name": "",
            "role_id": 0,
            "has_admin_role": int(self.sysadmin),
            "reset_uuid": "",
            "Salt": "",
            "creation_time": self.creation_time,
            "update_time": self.update_time,
        }


class UserStore:
    """Reads and (for the first-start admin password only) writes the ``user`` table."""

    def __init__(self, settings: DatabaseSettings, connect_timeout: float = 5.0):
        self._settings = settings
        self._timeout = connect_timeout

    def _connect(self):
        s = self._settings
        try:
            return pymysql.connect(
                host=s.host, port=s.port, user=s.user, password=s.password, database=s.database,
                connect_timeout=self._timeout, charset="utf8", autocommit=True,
            )
        except pymysql.MySQLError as exc:
            # pymysql messages name user and host, never the password.
            raise BackendError(
                f"cannot connect to the database {s.database} at {s.host}:{s.port} as {s.user}: "
                f"{exc.args[-1] if exc.args else type(exc).__name__}",
                hint="check MYSQL_* in the adminserver configuration and the database's grants",
            ) from exc

    def check(self) -> None:
        """Connect once (Harbor's ui also refuses to start without its database)."""
        self._connect().close()

    def _row(self, where: str, args: tuple) -> tuple | None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT {_COLUMNS} FROM `user` WHERE {where}", args)
                return cur.fetchone()
        finally:
            conn.close()

    @staticmethod
    def _user(row: tuple) -> User:
        return User(
            user_id=int(row[0]), username=row[1], email=row[2] or "", realname=row[4] or "",
            comment=row[5] or "", deleted=bool(row[6]), sysadmin=bool(row[8]),
            creation_time=str(row[9] or ""), update_time=str(row[10] or ""),
        )

    def authenticate(self, principal: str, password: str) -> User | None:
        """The user named (or e-mailed) ``principal`` if ``password`` is theirs, else None."""
        row = self._row("(username = %s OR email = %s) AND deleted = 0", (principal, principal))
        if row is None or not login_matches(row[3] or "", password, row[7] or ""):
            return None  # no such user, or the wrong password (LoginByDb: nil, nil)
        return self._user(row)

    def by_id(self, user_id: int) -> User | None:
        row = self._row("user_id = %s AND deleted = 0", (user_id,))
        return self._user(row) if row else None

    def init_admin_password(self, password: str | None) -> bool:
        """Set user 1's password when its salt is empty; True when it did."""
        if not password:
            return False
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                salt = random_salt()
                # GetUser reads non-deleted users only; a NULL salt scans as "" in Go.
                changed = cur.execute(
                    "UPDATE `user` SET salt = %s, password = %s, update_time = NOW() "
                    "WHERE user_id = %s AND deleted = 0 AND (salt IS NULL OR salt = '')",
                    (salt, encrypt(password, salt), ADMIN_USER_ID),
                )
                return bool(changed)
        finally:
            conn.close()
