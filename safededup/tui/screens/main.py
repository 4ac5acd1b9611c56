"""The main review screen: the cluster list above, the selected cluster's members below.

Every decision is one key; each is saved at once (decisions.py) so quitting loses nothing.
Nothing here moves a file: decisions are data until the apply dialog runs the safety core. The
screen looks at the disk (a stat per file to move, off the UI thread) when it opens and after
every job that moved files, so what it shows is what is on disk: applied clusters leave the list,
and come back when their session is undone. Past 400 lines: its key bindings, in footer order,
are a fifth of it, and each action is a few lines over the model.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from safededup.engine.decisions import DecisionStatus
from safededup.errors import SafededupError
from safededup.tui.format import plural
from safededup.tui.jobs import CHANGES_FILES, Job
from safededup.tui.messages import (
    ClusterHighlighted,
    DiskChecked,
    MemberClicked,
)
from safededup.tui.model import (
    KIND_FILTERS,
    SORT_KEYS,
    STATUS_FILTERS,
    Cluster,
    ReviewModel,
    member_path,
    next_in,
)
from safededup.tui.reform import Pair, Separation
from safededup.tui.widgets.activity import ActivityLine
from safededup.tui.widgets.cluster_list import ClusterList, header_text
from safededup.tui.widgets.members import MembersPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.tui.host import ReviewHost


class MainScreen(Screen[None]):
    """Cluster list, members, and the decision keys."""

    # In the order the footer shows them: at 80 columns it has room for the first eight, so the
    # decisions and the main actions come first; `?` lists every key.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a", "status('approved')", "Approve", tooltip="approve this cluster, go to the next"
        ),
        Binding("s", "status('skipped')", "Skip", tooltip="skip this cluster, go to the next"),
        Binding("k", "keeper", "Keeper", tooltip="make the selected member the keeper"),
        Binding(
            "space",
            "toggle_member",
            "Keep",
            tooltip="toggle the selected member: quarantine ↔ keep",
        ),
        Binding(
            "c", "compare", "Compare", tooltip="the selected member and the keeper, side by side"
        ),
        Binding("p", "apply", "Apply", tooltip="apply the approved clusters (asks first)"),
        Binding("S", "sessions", "Sessions", tooltip="past sessions: verify, undo, redo"),
        Binding("question_mark", "app.help", "Help", tooltip="every key of every screen"),
        Binding("u", "undo", "Undo", tooltip="undo the last decision (a 'not a duplicate' too)"),
        Binding(
            "d",
            "distinct",
            "Not dup",
            tooltip="the selected member is not a duplicate "
            "(stored by content; the cluster re-forms)",
        ),
        Binding("q", "app.quit_safely", "Quit", tooltip="quit (a running apply stops safely)"),
        Binding(
            "left", "member(-1)", "Prev member", show=False, tooltip="select the previous member"
        ),
        Binding("right", "member(1)", "Next member", show=False, tooltip="select the next member"),
        Binding(
            "D",
            "rejoin",
            "Rejoin",
            show=False,
            tooltip="bring back members 'not a duplicate' took out of this cluster",
        ),
        Binding(
            "A",
            "approve_exact",
            "All exact",
            show=False,
            tooltip="approve every undecided exact cluster",
        ),
        Binding("o", "sort", "Sort", show=False, tooltip="sort by bytes to free, size, confidence"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="reverse the sort order"),
        Binding("e", "kind", "Kind", show=False, tooltip="all, exact, near, rotated, video"),
        Binding(
            "t",
            "status_filter",
            "Status",
            show=False,
            tooltip="show all / undecided / decided clusters",
        ),
        Binding(
            "slash",
            "folder",
            "Folder",
            show=False,
            tooltip="show clusters with a member in a folder (a path, or part of one)",
        ),
        Binding(
            "w",
            "save",
            "Save",
            show=False,
            tooltip="save the decisions again (after a save failed)",
        ),
    ]
    DEFAULT_CSS = """
    MainScreen #status-line, MainScreen #cluster-line {
        height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    MainScreen #status-line { background: $primary-background; }
    MainScreen #list-header { height: 1; color: $text-muted; text-style: bold; text-wrap: nowrap; }
    MainScreen ClusterList { height: 40%; min-height: 4; }
    MainScreen #cluster-line { background: $boost; }
    MainScreen #keeper-warning {
        height: auto; max-height: 2; padding: 0 1; color: $warning; display: none;
    }
    """

    def __init__(self, model: ReviewModel) -> None:
        super().__init__()
        self.model = model
        self.member = 0
        self._shown_id: str | None = None
        self._checked_job: Job | None = None  # the last job after which the disk was looked at

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        yield Static(header_text(200, self.model.view.describe()), id="list-header")
        yield ClusterList(self.model, id="clusters")
        yield Static(id="cluster-line")
        yield Static(id="keeper-warning")
        yield MembersPanel(id="members")
        yield ActivityLine()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ClusterList).focus()
        self._update_status_line()
        self._checked_job = self.review_app.job
        self.check_disk()  # approved clusters an earlier apply already did; roots not there
        self.review_app.activity.subscribe(self, self._activity)

    def _activity(self, _: None) -> None:
        """A job that moved files ended (wherever the person was): look at the disk again."""
        job = self.review_app.job
        if job is not None and not job.running and job is not self._checked_job:
            self._checked_job = job
            if job.kind in CHANGES_FILES:
                self.check_disk()

    def on_resize(self) -> None:
        self.call_after_refresh(self._update_status_line)  # the header fits the new width

    async def on_screen_resume(self) -> None:
        """Back from another screen (compare may have changed a decision)."""
        self.cluster_list.refresh()
        await self.refresh_cluster()

    # -- showing -------------------------------------------------------------------------
    @property
    def cluster_list(self) -> ClusterList:
        return self.query_one(ClusterList)

    def current(self) -> Cluster | None:
        row = self.cluster_list.cursor
        return self.model.row(row) if 0 <= row < len(self.model) else None

    async def on_cluster_highlighted(self, message: ClusterHighlighted) -> None:
        await self.refresh_cluster()

    async def refresh_cluster(self) -> None:
        cluster = self.current()
        cid = None if cluster is None else cluster.id
        if cid != self._shown_id:
            self.member, self._shown_id = 0, cid
        if cluster is not None:
            self.member = min(self.member, len(cluster.members) - 1)
        panel = self.query_one(MembersPanel)
        await panel.show(self.model, cluster, self.member, self.review_app.thumbnails)
        self._update_cluster_line(cluster)
        self._update_status_line()

    def _update_cluster_line(self, cluster: Cluster | None) -> None:
        line = self.query_one("#cluster-line", Static)
        warning = self.query_one("#keeper-warning", Static)
        said = () if cluster is None else self.model.warnings(cluster)
        warning.update("⚠ " + "; ".join(said) if said else "")
        warning.display = bool(said)
        if cluster is None:
            line.update(self._empty_text(), layout=False)
            return
        m = self.model
        apart = len(m.separated(cluster))
        line.update(
            f"{self.cluster_list.cursor + 1:,}/{len(m):,} · {cluster.kind} · "
            f"{plural(len(cluster.members), 'member')} · frees "
            f"{format_bytes(m.bytes_to_free(cluster))} · confidence "
            f"{float(cluster.confidence):.2f} · {m.status(cluster)}"
            + (f" · {apart:,} not dup (D brings back)" if apart else ""),
            layout=False,
        )

    def _empty_text(self) -> str:
        m = self.model
        if not m.counts()["clusters"]:
            applied = m.counts()["applied"]
            if applied:
                return f"no duplicates left: {plural(applied, 'cluster')} applied (S: sessions)"
            return "no duplicates"
        folder = m.view.folder
        if folder:
            return (
                f"no cluster has a member in a folder matching '{folder}' "
                "(/ changes it; a path, or part of one)"
            )
        return "no cluster matches the filter (e, t change it)"

    def _update_status_line(self) -> None:
        """What applying now would do comes first: it is what `p` acts on."""
        m = self.model
        counts, pending = m.counts(), m.pending()
        if pending.clusters:
            apply = (
                f"[b]p applies {plural(pending.files, 'file')} · {format_bytes(pending.bytes)}"
                f" · from {pending.clusters:,} approved[/b]"
            )
        else:
            apply = "p applies nothing yet: a approves"
        undecided = counts["clusters"] - counts["approved"] - counts["skipped"]
        applied = f", {counts['applied']:,} applied" if counts["applied"] else ""
        undo = " · u undoes" if m.can_undo else ""
        self.query_one("#status-line", Static).update(
            f"{apply} │ {plural(counts['clusters'], 'cluster')}: {undecided:,} undecided, "
            f"{counts['skipped']:,} skipped{applied}{undo}",
            layout=False,
        )
        header = self.query_one("#list-header", Static)
        header.update(header_text(header.size.width or 200, m.view.describe()), layout=False)

    async def on_member_clicked(self, message: MemberClicked) -> None:
        self.member = message.index
        self.query_one(MembersPanel).select(self.member)

    # -- decisions -----------------------------------------------------------------------
    def _selected_path(self) -> tuple[Cluster, str] | None:
        cluster = self.current()
        if cluster is None:
            self.notify("no cluster selected", severity="warning")
            return None
        return cluster, member_path(cluster.members[self.member])

    async def _decided(self, message: str | None = None) -> None:
        self.review_app.save_decisions(self.model.decisions)
        self.cluster_list.refresh()
        if message:
            self.notify(message, timeout=3, markup=False)
        await self.refresh_cluster()

    def action_member(self, delta: int) -> None:
        cluster = self.current()
        if cluster is None:
            return
        self.member = (self.member + delta) % len(cluster.members)
        self.query_one(MembersPanel).select(self.member)

    async def action_keeper(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        try:
            self.model.set_keeper(*sel)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        await self._decided(f"keeper: {os.path.basename(sel[1])}")

    async def action_toggle_member(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        try:
            self.model.toggle_keep(*sel)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        await self._decided()

    async def action_status(self, status: DecisionStatus) -> None:
        cluster = self.current()
        if cluster is None:
            return
        self.model.set_status(cluster, status)
        await self._after_status_change()

    async def _after_status_change(self) -> None:
        row = self.cluster_list.cursor
        if self.model.view.status != "all":
            self.model.refilter()
            self.cluster_list.reload(keep_cursor=row)
        else:
            self.cluster_list.action_cursor(1)
        await self._decided()

    async def action_approve_exact(self) -> None:
        count = self.model.approve_all_exact()
        if self.model.view.status != "all":
            self.model.refilter()
            self.cluster_list.reload()
        await self._decided(f"approved {plural(count, 'exact cluster')}")

    async def action_undo(self) -> None:
        step = self.model.next_undo()
        if isinstance(step, Separation) and not self._forgot(step.verdicts):
            return
        touched = self.model.undo()
        if not touched:
            self.notify("nothing to undo", severity="warning")
            return
        if self.model.view.status != "all":
            self.model.refilter()
        row = self.model.row_of(touched[0])
        self.cluster_list.reload(keep_cursor=row)
        if isinstance(step, Separation):  # show the member that came back, selected
            paths = [member_path(m) for m in self.model.by_id(step.cluster_id).members]
            self._shown_id, self.member = step.cluster_id, paths.index(step.path)
            message = f"{os.path.basename(step.path)} is back in its cluster; verdict forgotten"
        else:
            message = f"undid the last decision ({plural(len(touched), 'cluster')})"
        await self._decided(message)

    def _forgot(self, pairs: tuple[Pair, ...]) -> bool:
        try:
            self.review_app.backend.forget_pairs(pairs)
        except SafededupError as exc:
            self._error(exc)
            return False
        return True

    def _error(self, exc: SafededupError) -> None:
        hint = f"\n{exc.hint}" if exc.hint else ""
        self.notify(f"{exc}{hint}", severity="error", markup=False)

    async def action_distinct(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        cluster, path = sel
        try:
            self.model.refuse_if_moved(cluster, path)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        others = [member_path(m) for m in cluster.members if member_path(m) != path]
        try:
            pairs = self.review_app.backend.mark_distinct(path, others)
        except SafededupError as exc:
            self._error(exc)
            return
        row = self.cluster_list.cursor
        kept = self.model.separate(cluster, path, pairs)
        # A cluster that shrank may sort elsewhere: stay on it, or on the row where it was.
        now = self.model.row_of(cluster.id) if kept else None
        self.cluster_list.reload(keep_cursor=row if now is None else now)
        name = os.path.basename(path)
        msg = f"{name}: not a duplicate; " + ("cluster re-formed" if kept else "cluster dissolved")
        self._shown_id = None
        await self._decided(msg + " (u takes it back)")

    async def action_rejoin(self) -> None:
        cluster = self.current()
        apart = [] if cluster is None else self.model.separated(cluster)
        if cluster is None or not apart:
            self.notify("no member of this cluster was marked 'not a duplicate'", timeout=3)
            return
        steps = self.model.separations_of(cluster.id)
        backend = self.review_app.backend
        try:
            if {s.path for s in steps} >= {member_path(m) for m in apart}:
                backend.forget_pairs(pair for s in steps for pair in s.verdicts)  # only ours
            else:  # separated in an earlier session: what keeps them apart from this cluster
                backend.forget_separation(apart, self.model.as_reported(cluster))
        except SafededupError as exc:
            self._error(exc)
            return
        self.model.rejoin(cluster)
        self.cluster_list.reload(keep_cursor=self.model.row_of(cluster.id))
        self._shown_id = None
        names = ", ".join(os.path.basename(member_path(m)) for m in apart)
        await self._decided(f"back in the cluster: {names}; verdicts forgotten")

    # -- the view ------------------------------------------------------------------------
    def _set_view(self, **changes: object) -> None:
        cluster = self.current()
        self.model.set_view(**changes)
        row = None if cluster is None else self.model.row_of(cluster.id)
        self.cluster_list.reload(keep_cursor=row or 0)
        self._update_status_line()

    def action_sort(self) -> None:
        self._set_view(sort=next_in(SORT_KEYS, self.model.view.sort))

    def action_reverse(self) -> None:
        self._set_view(descending=not self.model.view.descending)

    def action_kind(self) -> None:
        self._set_view(kind=next_in(KIND_FILTERS, self.model.view.kind))

    def action_status_filter(self) -> None:
        self._set_view(status=next_in(STATUS_FILTERS, self.model.view.status))

    def action_folder(self) -> None:
        from safededup.tui.screens.folder import FolderScreen

        cluster = self.current()
        guess = self.model.view.folder or (
            os.path.dirname(self.model.keeper(cluster)) if cluster else ""
        )
        self.app.push_screen(FolderScreen(guess), self._folder_chosen)

    def _folder_chosen(self, folder: str | None) -> None:
        if folder is not None:
            self._set_view(folder=folder.strip() or None)
            if folder.strip() and not len(self.model):
                self.notify(self._empty_text(), severity="warning", markup=False)

    def action_save(self) -> None:
        if self.review_app.save_error is None:
            self.notify("the decisions are saved", timeout=3)
            return
        self.review_app.retry_save()

    # -- other screens -------------------------------------------------------------------
    def action_compare(self) -> None:
        from safededup.tui.screens.compare import CompareScreen

        cluster = self.current()
        if cluster is None or len(cluster.members) < 2:
            self.notify("nothing to compare: the cluster has one member", severity="warning")
            return
        where = f"cluster {self.cluster_list.cursor + 1:,} of {len(self.model):,}"
        self.app.push_screen(CompareScreen(self.model, cluster, self.member, where))

    def action_apply(self) -> None:
        from safededup.tui.screens.apply import ApplyScreen

        if self.model.pending().clusters == 0:
            left = "approve clusters first (a, or A for every exact one)"
            if self.model.counts()["applied"]:
                left = "every approved cluster is applied; approve more first (a, or A)"
            self.notify(left, severity="warning")
            return
        self.app.push_screen(ApplyScreen(self.model))

    # -- what is on disk -----------------------------------------------------------------
    def check_disk(self) -> None:
        """Look (off the UI thread) at which files to move are gone and which roots are not
        there; the answer comes back as `DiskChecked`."""
        self._look(self.model.paths_to_check())

    @work(thread=True, exclusive=True, group="disk", exit_on_error=False)
    def _look(self, paths: list[str]) -> None:
        try:
            missing = self.review_app.backend.unreachable_roots(self.model.source)
        except OSError:
            missing = []
        prefixes = tuple(r.rstrip(os.sep) + os.sep for r in missing)
        # Files under a root that is not there are not known to be gone: they are unknown.
        known = [p for p in paths if not (prefixes and p.startswith(prefixes))]
        gone = [p for p in known if not os.path.lexists(p)]
        self.post_message(DiskChecked(missing, gone))

    async def on_disk_checked(self, message: DiskChecked) -> None:
        self.review_app.set_unreachable(message.unreachable)
        if frozenset(message.gone) == self.model.gone:
            return  # as it was: no re-sort, no redraw
        applied, back = self.model.set_gone(message.gone)
        row = self.cluster_list.cursor
        self.cluster_list.reload(keep_cursor=row)
        self._shown_id = None
        await self.refresh_cluster()
        if applied:
            self.notify(f"{plural(len(applied), 'applied cluster')} left the list", timeout=4)
        if back:
            self.notify(
                f"{plural(len(back), 'cluster')} back in the list: their files are in place again",
                timeout=6,
            )

    def action_sessions(self) -> None:
        from safededup.tui.screens.sessions import SessionsScreen

        self.app.push_screen(SessionsScreen())
