"""The accounts API: who a token is (`/api/me`) and, for admins, the users."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from disinfodb.accounts import Role
from disinfodb.server.auth import ApiAdmin, ServiceDep, token_user
from disinfodb.server.problems import problems

router = APIRouter(prefix="/api", responses=problems(400, 401, 413, 422))


class UserOut(BaseModel):
    name: str
    role: Role
    has_password: bool


@router.get("/me", response_model=UserOut | None, tags=["accounts"])
def current_user(service: ServiceDep, request: Request) -> UserOut | None:
    """The user of the request's token (null without one)."""
    user = token_user(service, request)
    return UserOut(name=user.name, role=user.role, has_password=user.has_password) if user else None


@router.get("/users", response_model=list[UserOut], tags=["accounts"], responses=problems(403))
def list_users(service: ServiceDep, _: ApiAdmin) -> list[UserOut]:
    return [UserOut(name=u.name, role=u.role, has_password=u.has_password) for u in service.accounts.users()]
