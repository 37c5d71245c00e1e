"""Descriptions that strawberry cannot attach where they are declared: values of enums
reused from the domain, and the standard arguments every list and mutation shares."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema

STANDARD_ARGUMENTS = {
    "filter": "Only items matching this filter (lists mean any of; several fields mean all of).",
    "orderBy": "Order of the items; the ID always breaks ties, so pages are stable.",
    "input": "The mutation's input object.",
}

ENUM_VALUES: dict[str, dict[str, str]] = {
    "Language": {"EN": "English", "FR": "French", "ES": "Spanish", "AR": "Arabic", "ZH": "Chinese", "RU": "Russian"},
    "RegionalGroup": {
        "AFRICAN": "African Group",
        "ASIA_PACIFIC": "Asia-Pacific Group",
        "EASTERN_EUROPEAN": "Eastern European Group",
        "LATIN_AMERICAN_CARIBBEAN": "Latin American and Caribbean Group (GRULAC)",
        "WESTERN_EUROPEAN_OTHERS": "Western European and others Group (WEOG)",
    },
    "Role": {
        "ADMINISTRATOR": "The secretariat: manages keys and reference data, sees everything",
        "FUND_ADMINISTRATOR": "Runs UPR Voluntary Fund rounds: criteria, proposals; approves allocations",
        "STATE_FOCAL_POINT": "Acts for one State: publishes its needs and decides who sees them",
        "DONOR": "Acts for a donor organization",
        "AGENCY": "Acts for a UN agency, fund or regional organization",
        "NHRI": "Acts for a national human rights institution",
        "CIVIL_SOCIETY": "Acts for a civil society organization",
        "ANONYMOUS": "No credentials: sees public needs only",
    },
    "UnMembership": {"MEMBER": "UN Member State", "OBSERVER": "Non-member observer State"},
    "RightsDimension": {
        "CIVIL": "Civil rights",
        "POLITICAL": "Political rights",
        "ECONOMIC": "Economic rights",
        "SOCIAL": "Social rights",
        "CULTURAL": "Cultural rights",
    },
    "Modality": {
        "ADVISORY_SERVICES": "Expert advice to institutions",
        "TRAINING": "Training and capacity building of people",
        "LEGISLATIVE_DRAFTING": "Drafting or review of laws and regulations",
        "INSTITUTION_BUILDING": "Setting up or strengthening institutions",
        "EQUIPMENT": "Equipment and systems",
        "RESEARCH": "Research, assessments and data",
        "PEER_EXCHANGE": "Sharing of experiences and good practices between States",
        "AWARENESS_RAISING": "Awareness raising and public information",
        "FINANCIAL_SUPPORT": "Funding",
    },
    "NeedStatus": {
        "DRAFT": "Being written by the State; may be edited freely",
        "SUBMITTED": "Published by the State and open to matching",
        "MATCHED": "A provider has been matched",
        "IN_PROGRESS": "The assistance is being delivered",
        "COMPLETED": "Delivered; final",
        "WITHDRAWN": "Withdrawn by the State; may be reopened as a draft",
    },
    "Visibility": {
        "PRIVATE": "Only the State's focal points and administrators",
        "PARTNERS": "Also authenticated donors, agencies, NHRIs and civil society organizations",
        "PUBLIC": "Everyone, including anonymous callers",
    },
    "StakeholderKind": {
        "GOVERNMENT_MINISTRY": "A ministry or government agency",
        "PARLIAMENT": "Parliament or a parliamentary committee",
        "JUDICIARY": "Courts and judicial bodies",
        "NHRI": "National human rights institution",
        "CIVIL_SOCIETY": "Civil society organization",
        "ACADEMIA": "University or research institute",
        "OTHER": "Another kind of body",
    },
    "RecommendationResponse": {"SUPPORTED": "Accepted by the State under review", "NOTED": "Noted (not accepted)"},
    "RecommendationSource": {
        "UPR": "The Universal Periodic Review: one State's recommendation to another at a review",
        "TREATY_BODY": "A treaty body (CAT, CCPR, CED, CEDAW, CERD, CESCR, CMW, CRC, CRPD, SPT), e.g. in concluding observations",
        "SPECIAL_PROCEDURE": "A special procedure of the Human Rights Council (special rapporteur, independent expert, working group)",
    },
    "StateOrderField": {"NAME": "English short name", "CODE": "ISO 3166 alpha-3 code"},
    "OrderDirection": {"ASC": "Ascending", "DESC": "Descending"},
    "NeedOrderField": {
        "CREATED_AT": "Creation time",
        "UPDATED_AT": "Last change",
        "TITLE": "Title",
        "ESTIMATED_COST": "Estimated cost in USD (unknown costs last when descending)",
        "RELEVANCE": "Full-text rank of `search`",
    },
    "RecommendationOrderField": {
        "CREATED_AT": "When it was recorded",
        "SESSION": "UPR session",
        "RELEVANCE": "Full-text rank of `search`",
    },
    "MatchStatus": {
        "SUGGESTED": "Computed by the matching engine; nobody has acted on it yet",
        "PROPOSED": "The offering donor or agency proposed it to the State, with a message and an amount",
        "ENDORSED": "The State endorsed the proposal (only this makes it an engagement)",
        "DECLINED": "The State declined the proposal; final",
        "AGREED": "The proposer confirmed; the agreed amount funds the need",
        "ACTIVE": "The engagement is under way",
        "COMPLETED": "The engagement is completed; lessons can be recorded; final",
        "WITHDRAWN": "One side withdrew before completion; final",
    },
    "OfferKind": {"PROGRAMME": "A funded programme or project", "CAPABILITY": "Expertise an organization can offer"},
    "FundRoundStatus": {
        "DRAFT": "Being prepared; Fund administrators and administrators only",
        "OPEN": "Applications are taken within the window",
        "CLOSED": "Applications rescored; the allocation proposal awaits approval",
        "ALLOCATED": "A Fund administrator approved the allocation; every decision and score is public",
    },
    "FundValueUnit": {
        "FLAG": "A status: 1, 0.5 or 0",
        "SHARE": "A share, 0..1",
        "USD": "An amount in US dollars (through the rate table)",
    },
    "FundDecision": {
        "FUNDED": "Funded in full",
        "PARTIALLY_FUNDED": "Funded with what remained of the budget (at least the round's minPartialShare of the request)",
        "NOT_FUNDED": "Not funded; the reason says why",
    },
    "OpportunityOrderField": {
        "SCORE": "Best match score against your offers",
        "COST": "Estimated cost in USD",
        "FUNDING_GAP": "Estimated cost minus agreed funding, in USD",
    },
    "FundingGapGrouping": {
        "THEME": "By theme",
        "REGION": "By M49 sub-region",
        "STATE": "By State",
        "SECTOR": "By DAC sector",
    },
    "EventKind": {
        "NEED_CREATED": "A need was created",
        "NEED_UPDATED": "A need's content or links changed",
        "NEED_STATUS_CHANGED": "A need moved in its lifecycle",
        "NEED_VISIBILITY_CHANGED": "A need's visibility changed",
        "NEED_INPUT_ADDED": "An NHRI or civil society organization added input to a need",
        "NEED_SUGGESTIONS_CHANGED": "A need's computed match suggestions changed",
        "NEED_REMOVED": "A need you could see is no longer visible to you (ID only)",
        "MATCH_PROPOSED": "A donor or agency proposed a match",
        "MATCH_ENDORSED": "The State endorsed a match",
        "MATCH_DECLINED": "The State declined a match",
        "MATCH_AGREED": "The proposer confirmed an endorsed match",
        "MATCH_ACTIVATED": "An engagement started",
        "MATCH_COMPLETED": "An engagement was completed",
        "MATCH_WITHDRAWN": "A match was withdrawn",
        "MATCH_LESSONS_RECORDED": "Lessons learned were recorded on a completed engagement",
        "PROGRAMME_CREATED": "A programme was created (API or IATI import)",
        "PROGRAMME_UPDATED": "A programme changed",
        "CAPABILITY_CREATED": "A capability was created",
        "CAPABILITY_UPDATED": "A capability changed",
        "RECOMMENDATION_CREATED": "A UPR recommendation was imported",
        "RECOMMENDATION_UPDATED": "A UPR recommendation's response, action or issues changed",
        "PLEDGE_CREATED": "A voluntary pledge was imported",
        "ORGANIZATION_CREATED": "An organization was created",
        "ORGANIZATION_UPDATED": "An organization changed",
        "FUND_ROUND_OPENED": "A UPR Voluntary Fund round opened for applications",
        "FUND_ROUND_CLOSED": "A Fund round closed; its applications were rescored",
        "FUND_CRITERIA_CHANGED": "A Fund round published a new criteria version (applications re-ranked)",
        "FUND_ALLOCATION_APPROVED": "A Fund administrator approved a round's allocation; its decision report is public",
        "ACTION_CREATED": "A State created an implementation action (sent only to those who may see it)",
        "ACTION_UPDATED": "An implementation action, its links or its indicators changed",
        "PROGRESS_REPORT_CREATED": "A State reported progress on an action (sent only to those who may see the report)",
        "PROGRESS_REPORT_UPDATED": "A progress report changed or was published",
        "PROGRESS_COMMENT_CREATED": "An NHRI or civil society organization commented on a progress report",
    },
    "ImplementationStatus": {
        "NOT_STARTED": "Nothing done yet",
        "ONGOING": "Work under way, no result yet",
        "PARTIAL": "Some results; not all that was planned",
        "COMPLETED": "Done",
    },
    "ImplementationActionOrderField": {
        "CREATED_AT": "Creation time",
        "UPDATED_AT": "Last change (of the action, its indicators or reports)",
        "TITLE": "Title",
        "END_DATE": "Planned end (open-ended actions last when ascending)",
    },
    "OrganizationCategory": {
        "DONOR_GOVERNMENT": "A donor government or its development agency",
        "UN_AGENCY": "A UN agency, programme or office",
        "UN_FUND": "A UN fund (e.g. the UPR Voluntary Fund)",
        "REGIONAL_ORGANIZATION": "A regional organization (e.g. the European Union)",
        "NHRI": "A national human rights institution",
        "CIVIL_SOCIETY": "A civil society organization",
        "PRIVATE_DONOR": "A foundation or private donor",
        "ACADEMIC": "A university or research institute",
    },
}


def document(schema: GraphQLSchema) -> None:
    """Fill the shared descriptions in; anything still undocumented is caught by a test."""
    for name, graphql_type in schema.type_map.items():
        if isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                if not value.description:
                    value.description = ENUM_VALUES.get(name, {}).get(value_name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field in graphql_type.fields.values():
                for arg_name, arg in field.args.items():
                    if not arg.description and arg_name in STANDARD_ARGUMENTS:
                        arg.description = STANDARD_ARGUMENTS[arg_name]
