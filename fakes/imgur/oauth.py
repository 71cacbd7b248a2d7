"""OAuth 2 as Imgur does it (§2.2): refresh-token grant, Bearer tokens that expire.

Access tokens are 40 hex characters drawn from a seeded stream. A token stops working
when its ``expires_in`` has passed on the injected clock, or at once after
``expire_all()`` — which is how tests make a client walk the "403, refresh once, retry"
path: a stale token gets Imgur's 403 "The access token provided is invalid.".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fakes.imgur.config import EmulatorConfig
from fakes.imgur.data import Account, Catalogue


@dataclass
class AccessToken:
    token: str
    username: str
    account_id: int
    client_id: str | None
    expires_at: float
    revoked: bool = False


@dataclass
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int
    account_id: int
    account_username: str

    def as_json(self) -> dict:
        # Not wrapped in the envelope; token_type lower-case and scope null as recorded.
        return {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "token_type": "bearer",
            "scope": None,
            "refresh_token": self.refresh_token,
            "account_id": self.account_id,
            "account_username": self.account_username,
        }


class Tokens:
    def __init__(self, config: EmulatorConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self._rng = random.Random(config.seed * 31 + 7)
        self._access: dict[str, AccessToken] = {}
        for token, username in config.access_tokens.items():
            account = self.account_for(username)
            self._access[token] = AccessToken(token, account.url, account.id, None, float("inf"))

    def _hex(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    def account_for(self, username: str) -> Account:
        """The account behind a token; made up on the spot if the catalogue lacks it."""
        account = self.catalogue.accounts.get(username.lower())
        if account is None:
            account = Account(
                id=self._rng.randint(1_000_000, 180_000_000),
                url=username,
                bio=None,
                reputation=0,
                created=self.catalogue.anchor - 86_400 * 365,
                pro_expiration=False,
            )
            self.catalogue.accounts[username.lower()] = account
        return account

    def username_for_refresh(self, refresh_token: str) -> str | None:
        if not refresh_token:
            return None
        known = self.config.refresh_tokens
        if known is None:
            return self.config.oauth_username
        return known.get(refresh_token)

    def issue(
        self, username: str, client_id: str | None, refresh_token: str | None = None
    ) -> TokenGrant:
        account = self.account_for(username)
        token = self._hex()
        ttl = self.config.access_token_ttl
        now = self.config.clock.now().timestamp()
        self._access[token] = AccessToken(token, account.url, account.id, client_id, now + ttl)
        return TokenGrant(token, refresh_token or self._hex(), ttl, account.id, account.url)

    def check(self, token: str) -> AccessToken | None:
        """The live token, or None when unknown, expired or revoked."""
        info = self._access.get(token)
        if info is None or info.revoked:
            return None
        if self.config.clock.now().timestamp() >= info.expires_at:
            return None
        return info

    def expire_all(self) -> int:
        """Invalidate every access token issued so far; returns how many were live."""
        live = 0
        for info in self._access.values():
            if not info.revoked:
                live += 1
                info.revoked = True
        return live
