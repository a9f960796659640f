"""PS3.15 Annex E, Table E.1-1: the Basic Application Confidentiality Profile as data.

Source: DICOM PS3.15 "Security and System Management Profiles", Annex E "Attribute
Confidentiality Profiles", Table E.1-1 "Application Level Confidentiality Profile
Attributes", column "Basic Prof." (https://dicom.nema.org/medical/dicom/current/output/
html/part15.html#table_E.1-1). Written out by hand from the standard; attributes are named
by their DICOM keyword and resolved to tags through pydicom's data dictionary at import
(a test checks that every keyword resolves).

Action codes (PS3.15 E.3.1):

- ``D`` replace with a non-zero length dummy value consistent with the VR
- ``Z`` replace with a zero length value (or a dummy)
- ``X`` remove
- ``K`` keep
- ``C`` clean (replace identifying text with values of similar meaning)
- ``U`` replace with a non-zero length UID that is internally consistent

Compound codes (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) depend on the IOD's
attribute type. Without per-IOD type tables we resolve them to the strictest action that
keeps the file valid for *any* attribute type (see :func:`resolve`).

Groups handled by pattern rather than by row: private tags (odd groups), Curve Data
(50xx,xxxx), Overlay Data and Comments (60xx,3000 / 60xx,4000: we drop the whole 60xx
overlay group) and every UI-valued attribute (remapped by the de-identifier).
"""

from __future__ import annotations

from typing import Final

from pydicom.datadict import tag_for_keyword

# keyword  basic-profile-action   (one row per attribute of Table E.1-1)
_TABLE: Final[str] = """
AccessionNumber Z
AcquisitionComments X
AcquisitionContextSequence X
AcquisitionDate X/D
AcquisitionDateTime X/D
AcquisitionDeviceProcessingDescription X/D
AcquisitionFieldOfViewLabel D
AcquisitionProtocolDescription X
AcquisitionTime X/D
AcquisitionUID U
ActualHumanPerformersSequence X
AdditionalPatientHistory X
AdmissionID X
AdmittingDate X
AdmittingDiagnosesCodeSequence X
AdmittingDiagnosesDescription X
AdmittingTime X
Allergies X
Arbitrary X
AuthorObserverSequence X
BranchOfService X
CassetteID X
CommentsOnThePerformedProcedureStep X
ConcatenationUID U
ConfidentialityConstraintOnPatientDataDescription X
ConsultingPhysicianIdentificationSequence X
ConsultingPhysicianName Z
ContainerIdentifier Z
ContentCreatorIdentificationCodeSequence X
ContentCreatorName Z
ContentDate Z/D
ContentSequence X
ContentTime Z/D
ContextGroupExtensionCreatorUID U
ContrastBolusAgent Z/D
ContrastBolusStartTime X
ContrastBolusStopTime X
ContributionDescription X
CountryOfResidence X
CreatorVersionUID U
CurrentPatientLocation X
CurveDate X
CurveTime X
CustodialOrganizationSequence X
DataSetTrailingPadding X
DateOfLastCalibration X
DateOfLastDetectorCalibration X
DateOfSecondaryCapture X
DecayCorrectionDateTime X/D
DerivationDescription X
DetectorID X/D
DeviceDescription X
DeviceSerialNumber X/Z/D
DeviceUID U
DigitalSignatureUID X
DigitalSignaturesSequence X
DimensionOrganizationUID U
DischargeDiagnosisDescription X
DistributionAddress X
DistributionName X
DoseReferenceUID U
EndAcquisitionDateTime X/D
EthnicGroup X
ExpectedCompletionDateTime X
FailedSOPInstanceUIDList U
FiducialUID U
FillerOrderNumberImagingServiceRequest Z
FrameAcquisitionDateTime X/D
FrameComments X
FrameOfReferenceUID U
FrameReferenceDateTime X/D
GantryID X
GeneratorID X
GraphicAnnotationSequence D
GroupOfPatientsIdentificationSequence X
HumanPerformerName X
HumanPerformerOrganization X
IconImageSequence X
IdentifyingComments X
ImageComments X
ImagePresentationComments X
ImagingServiceRequestComments X
Impressions X
InstanceCoercionDateTime X
InstanceCreationDate X/D
InstanceCreationTime X/Z/D
InstanceCreatorUID U
InstitutionAddress X
InstitutionCodeSequence X/Z/D
InstitutionName X/Z/D
InstitutionalDepartmentName X
InstitutionalDepartmentTypeCodeSequence X
InsurancePlanIdentification X
IntendedRecipientsOfResultsIdentificationSequence X
InterpretationApproverSequence X
InterpretationAuthor X
InterpretationDiagnosisDescription X
InterpretationIDIssuer X
InterpretationRecorder X
InterpretationText X
InterpretationTranscriber X
InterventionDrugStartTime X
InterventionDrugStopTime X
IrradiationEventUID U
IssuerOfAccessionNumberSequence X
IssuerOfAdmissionID X
IssuerOfPatientID X
IssuerOfServiceEpisodeID X
LargePaletteColorLookupTableUID U
LastMenstrualDate X
MAC X
MediaStorageSOPInstanceUID U
MedicalAlerts X
MedicalRecordLocator X
MilitaryRank X
ModifiedAttributesSequence X
ModifiedImageDescription X
ModifyingDeviceID X
ModifyingDeviceManufacturer X
NameOfPhysiciansReadingStudy X
NamesOfIntendedRecipientsOfResults X
ObservationDateTime X/D
Occupation X
OperatorIdentificationSequence X/D
OperatorsName X/Z/D
OrderCallbackPhoneNumber X
OrderCallbackTelecomInformation X
OrderEnteredBy X
OrderEntererLocation X
OrderFillerIdentifierSequence X
OrderPlacerIdentifierSequence X
OriginalAttributesSequence X
OtherPatientIDs X
OtherPatientIDsSequence X
OtherPatientNames X
OverlayDate X
OverlayTime X
ParticipantSequence X
PatientAddress X
PatientAge X
PatientAlternativeCalendar X
PatientBirthDate Z
PatientBirthDateInAlternativeCalendar X
PatientBirthName X
PatientBirthTime X
PatientComments X
PatientDeathDateInAlternativeCalendar X
PatientID Z
PatientInstitutionResidence X
PatientInsurancePlanCodeSequence X
PatientMotherBirthName X
PatientName Z
PatientPrimaryLanguageCodeSequence X
PatientPrimaryLanguageModifierCodeSequence X
PatientReligiousPreference X
PatientSex Z
PatientSexNeutered X/Z
PatientSize X
PatientState X
PatientTelecomInformation X
PatientTelephoneNumbers X
PatientWeight X
PerformedLocation X
PerformedProcedureStepDescription X
PerformedProcedureStepEndDate X
PerformedProcedureStepEndDateTime X
PerformedProcedureStepEndTime X
PerformedProcedureStepID X
PerformedProcedureStepStartDate X
PerformedProcedureStepStartDateTime X
PerformedProcedureStepStartTime X
PerformedStationAETitle X
PerformedStationGeographicLocationCodeSequence X
PerformedStationName X
PerformedStationNameCodeSequence X
PerformingPhysicianIdentificationSequence X
PerformingPhysicianName X
PersonAddress X
PersonIdentificationCodeSequence D
PersonName D
PersonTelecomInformation X
PersonTelephoneNumbers X
PhysicianApprovingInterpretation X
PhysiciansOfRecord X
PhysiciansOfRecordIdentificationSequence X
PhysiciansReadingStudyIdentificationSequence X
PlacerOrderNumberImagingServiceRequest Z
PlateID X
PreMedication X
PregnancyStatus X
ProtocolName X/D
RadiopharmaceuticalStartDateTime X
RadiopharmaceuticalStartTime X
RadiopharmaceuticalStopDateTime X
RadiopharmaceuticalStopTime X
ReasonForStudy X
ReasonForTheImagingServiceRequest X
ReasonForTheRequestedProcedure X
ReferencedDigitalSignatureSequence X
ReferencedFrameOfReferenceUID U
ReferencedGeneralPurposeScheduledProcedureStepTransactionUID U
ReferencedImageSequence X/Z/U*
ReferencedPatientAliasSequence X
ReferencedPatientPhotoSequence X
ReferencedPatientSequence X
ReferencedPerformedProcedureStepSequence X/Z/D
ReferencedSOPInstanceMACSequence X
ReferencedSOPInstanceUID U
ReferencedSOPInstanceUIDInFile U
ReferencedStudySequence X/Z
ReferringPhysicianAddress X
ReferringPhysicianIdentificationSequence X
ReferringPhysicianName Z
ReferringPhysicianTelephoneNumbers X
RegionOfResidence X
RelatedFrameOfReferenceUID U
RequestAttributesSequence X
RequestedContrastAgent X
RequestedProcedureComments X
RequestedProcedureDescription X/Z
RequestedProcedureID X
RequestedProcedureLocation X
RequestingPhysician X
RequestingService X
ResponsibleOrganization X
ResponsiblePerson X
ResultsComments X
ResultsDistributionListSequence X
ResultsIDIssuer X
ReviewerName X/Z
ScheduledHumanPerformersSequence X
ScheduledPatientInstitutionResidence X
ScheduledPerformingPhysicianIdentificationSequence X
ScheduledPerformingPhysicianName X
ScheduledProcedureStepDescription X
ScheduledProcedureStepEndDate X
ScheduledProcedureStepEndTime X
ScheduledProcedureStepID X
ScheduledProcedureStepLocation X
ScheduledProcedureStepStartDate X
ScheduledProcedureStepStartTime X
ScheduledStationAETitle X
ScheduledStationGeographicLocationCodeSequence X
ScheduledStationName X
ScheduledStationNameCodeSequence X
ScheduledStudyLocation X
ScheduledStudyLocationAETitle X
SeriesDate X/D
SeriesDescription X
SeriesInstanceUID U
SeriesTime X/D
ServiceEpisodeDescription X
ServiceEpisodeID X
SmokingStatus X
SOPInstanceUID U
SourceImageSequence X/Z/U*
SourcePatientGroupIdentificationSequence X
SpecialNeeds X
SpecimenIdentifier Z
SpecimenUID U
StartAcquisitionDateTime X/D
StationName X/Z/D
StorageMediaFileSetUID U
StudyComments X
StudyDate Z
StudyDescription X
StudyID Z
StudyIDIssuer X
StudyInstanceUID U
StudyTime Z
SynchronizationFrameOfReferenceUID U
TargetUID U
TemplateExtensionCreatorUID U
TemplateExtensionOrganizationUID U
TextComments X
TextString X
TimeOfLastCalibration X
TimeOfSecondaryCapture X
TimezoneOffsetFromUTC X
TopicAuthor X
TopicKeywords X
TopicSubject X
TopicTitle X
TransactionUID U
UID U
VerifyingObserverIdentificationCodeSequence Z
VerifyingObserverName D
VerifyingObserverSequence D
VerifyingOrganization X
VisitComments X
"""


def _parse(table: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in table.strip().splitlines():
        keyword, code = line.split()
        rows[keyword] = code
    return rows


#: keyword -> action code exactly as printed in the standard's Basic Profile column
BASIC_PROFILE_BY_KEYWORD: Final[dict[str, str]] = _parse(_TABLE)


def resolve(code: str) -> str:
    """Resolve a (possibly compound) action code to the single action we apply.

    - single codes apply as written;
    - ``X/Z`` -> ``Z``: an empty value is valid for type 2 and type 3 attributes;
    - any compound with ``D`` (``X/D``, ``Z/D``, ``X/Z/D``) -> ``D``: a dummy value keeps even
      a type 1 attribute valid and carries no information;
    - ``X/Z/U*`` (reference sequences) -> ``U``: the sequence is kept, its items are
      de-identified recursively and every UID inside is remapped consistently.
    """
    parts = code.replace("*", "").split("/")
    if len(parts) == 1:
        return parts[0]
    if "U" in parts:
        return "U"
    if "D" in parts:
        return "D"
    if "Z" in parts:
        return "Z"
    return "X"


def _by_tag() -> dict[int, str]:
    table: dict[int, str] = {}
    for keyword, code in BASIC_PROFILE_BY_KEYWORD.items():
        tag = tag_for_keyword(keyword)
        if tag is None:  # pragma: no cover - guarded by a test
            raise RuntimeError(f"unknown DICOM keyword in profile table: {keyword}")
        table[int(tag)] = resolve(code)
    return table


#: tag (int) -> resolved single action (D, Z, X, K, C or U)
BASIC_PROFILE: Final[dict[int, str]] = _by_tag()
