// Clicks per campaign, with an hourly report. A campaign that goes viral gets most of the traffic on one key:
// `campaign` is leasable, so the scheduler can lease that key's clicks to other workers, which count them
// against partial state (every cell is mergeable); the report of an hour is a critical message, so it runs at
// the campaign's lessor once every lessee's partial counts are merged in: it counts exactly the clicks before
// it. Clicks schedule the report of their hour with a delayed critical send; a lessee holds only a partial
// view of which reports are scheduled, so a report may be scheduled twice: the report itself ignores a second
// copy (its `reported` set is complete at the lessor).
import { defineApp, fn, merge, state } from '@dirigo/core';

export const CLICKS_TOPIC = 'campaign-clicks';
export const REPORTS_TOPIC = 'campaign-reports';
export const HOUR_MS = 3_600_000;
/** Reports run this long after their hour ends, so late clicks of the hour still count. */
export const GRACE_MS = 60_000;

/** A click on an ad of the campaign (the record key). `at`: when it happened, ms since epoch. */
export interface Click {
  readonly type: 'click';
  readonly user: string;
  readonly at: number;
}
/** The report of one hour (sent by the runtime as a timer). */
export interface ReportDue {
  readonly type: 'report';
  readonly hour: number;
}
export type CampaignMessage = Click | ReportDue;

/** An hourly report. */
export interface HourlyReport {
  readonly campaign: string;
  /** Start of the hour, ms since epoch. */
  readonly hour: number;
  readonly clicks: number;
  readonly users: number;
}

export default defineApp({
  name: 'campaigns',
  options: { latencyTargetMs: 1_000 },
  ingresses: [{ topic: CLICKS_TOPIC, to: 'campaign' }],
  egresses: { reports: { topic: REPORTS_TOPIC } },
  functions: {
    campaign: fn({
      leasable: true,
      state: {
        /** Clicks per hour (key: hour start as text). */
        clicks: state.mergeable(merge.mapOf(merge.sum())),
        /** Distinct users per hour. */
        users: state.mergeable(merge.mapOf(merge.setUnion<string>())),
        /** Hours whose report is scheduled (a lessee sees only its own part). */
        scheduled: state.mergeable(merge.setUnion<number>()),
        /** Hours reported (complete at the lessor, where reports run). */
        reported: state.mergeable(merge.setUnion<number>()),
      },
      critical: (m: CampaignMessage) => m.type === 'report',
      handler(ctx, m: CampaignMessage) {
        if (m.type === 'click') {
          const hour = Math.floor(m.at / HOUR_MS) * HOUR_MS;
          ctx.state.clicks.merge({ [hour]: 1 });
          ctx.state.users.merge({ [hour]: [m.user] });
          if (!ctx.state.scheduled.get().includes(hour) && !ctx.state.reported.get().includes(hour)) {
            const delayMs = Math.max(1, hour + HOUR_MS + GRACE_MS - ctx.now);
            ctx.send('campaign', ctx.key, { type: 'report', hour } satisfies ReportDue, {
              delayMs,
              critical: true,
            });
            ctx.state.scheduled.merge([hour]);
          }
          return;
        }
        // The report: the full counts of the hour, once.
        if (ctx.state.reported.get().includes(m.hour)) return;
        const clicks = ctx.state.clicks.get();
        const users = ctx.state.users.get();
        ctx.emit('reports', ctx.key, {
          campaign: ctx.key,
          hour: m.hour,
          clicks: clicks[m.hour] ?? 0,
          users: users[m.hour]?.length ?? 0,
        } satisfies HourlyReport);
        ctx.state.reported.merge([m.hour]);
        const { [m.hour]: _c, ...restClicks } = clicks;
        const { [m.hour]: _u, ...restUsers } = users;
        ctx.state.clicks.set(restClicks);
        ctx.state.users.set(restUsers);
        ctx.state.scheduled.set(ctx.state.scheduled.get().filter((h) => h !== m.hour));
      },
    }),
  },
});
