/*
 * country: the ISO 3166-1 alpha-2 codes in use (officially assigned), so a
 * config that names one that is not (UK for GB, EL for GR) can be warned
 * about: no database reports it, so the zone would never match.
 */
#include "geo/zone.h"

#include <stdlib.h>
#include <string.h>

static const char assigned[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

static int cmp_code(const void *key, const void *elem)
{
    return memcmp(key, elem, 2);
}

const char *geo_country_check(const char *code)
{
    static const struct {
        char code[3], means[3];
    } aliases[] = {{"UK", "GB"}, {"EL", "GR"}};

    if (strlen(code) != 2)
        return "";
    /* Entries are 3 bytes apart ("AD " ...), sorted: a binary search over them. */
    if (bsearch(code, assigned, (sizeof(assigned) + 1) / 3, 3, cmp_code) != NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(code, aliases[i].code) == 0)
            return aliases[i].means;
    return "";
}
