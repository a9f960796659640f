"""The services handed to handlers and web routes; built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.accounts.directory import Directory
from bot.accounts.facilities import FacilityService
from bot.accounts.guard import UpdateGuard
from bot.accounts.invites import InviteService
from bot.accounts.onboarding import Onboarding
from bot.cases.attachments import AttachmentService
from bot.cases.broadcasts import BroadcastService
from bot.cases.cancel import CancelService
from bot.cases.case_list import CaseListService
from bot.cases.compose import ComposeService
from bot.cases.coverage import DailyGaps, GapNotifier
from bot.cases.drafts import DraftService
from bot.cases.escalation import Escalator
from bot.cases.offers import OfferService
from bot.cases.ports import CaseNotifier
from bot.cases.questions import QuestionService
from bot.cases.reports import ReportService
from bot.cases.rosters import RosterService
from bot.cases.statistics import StatisticsService
from bot.cases.uploads import UploadService
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs
from bot.outbox import Outbox
from bot.security.blobstore import BlobStore
from bot.security.capability_links import LinkService
from bot.security.fields import FieldCipher


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    catalogs: Catalogs
    guard: UpdateGuard
    directory: Directory
    facilities: FacilityService
    invites: InviteService
    onboarding: Onboarding
    blobs: BlobStore
    fields: FieldCipher
    drafts: DraftService
    attachments: AttachmentService
    rosters: RosterService
    offers: OfferService
    escalator: Escalator
    compose: ComposeService
    reports: ReportService
    questions: QuestionService
    notifier: CaseNotifier
    outbox: Outbox
    statistics: StatisticsService
    daily_gaps: DailyGaps
    gap_notifier: GapNotifier
    links: LinkService
    broadcasts: BroadcastService
    uploads: UploadService
    case_list: CaseListService
    cancellations: CancelService
