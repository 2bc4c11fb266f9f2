/* report/: placeholder for the quality figures, replaced by the real ones before the report lands.
 */
#include "report_internal.h"

int elm__report_quality(elm__report_t *r)
{
    elm__fig_begin(r, "fig-quality", "quality (not written yet)", NULL);
    elm__fig_missing(r, "not written yet", "-");
    elm__fig_end(r);
    return 0;
}
