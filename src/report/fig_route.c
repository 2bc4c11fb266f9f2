/* report/: placeholder for the route figures, replaced by the real ones before the report lands. */
#include "report_internal.h"

int elm__report_route(elm__report_t *r)
{
    elm__fig_begin(r, "fig-route", "route (not written yet)", NULL);
    elm__fig_missing(r, "not written yet", "-");
    elm__fig_end(r);
    return 0;
}
