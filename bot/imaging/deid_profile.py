"""PS3.15 Annex E, Table E.1-1: the Basic Application Confidentiality Profile as data.

Source: DICOM PS3.15 "Security and System Management Profiles", Annex E "Attribute
Confidentiality Profiles", Table E.1-1 "Application Level Confidentiality Profile
Attributes", column "Basic Prof." (edition 2024b, https://dicom.nema.org/medical/dicom/
2024b/output/chtml/part15/chapter_E.html#table_E.1-1). Written out as data; attributes are
named by their DICOM keyword and resolved to tags through pydicom's data dictionary at
import (a test checks that every keyword resolves).

Deliberately stricter than the table in three rows: Content Sequence and Verifying
Organization are removed (X) rather than replaced by a dummy (D) — an SR's whole content
tree can name people; Patient ID is emptied (Z) where recent editions allow Z/D.

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
AcquisitionContextSequence X/Z
AcquisitionDate X/Z
AcquisitionDateTime X/D
AcquisitionDeviceProcessingDescription X/D
AcquisitionFieldOfViewLabel D
AcquisitionProtocolDescription X
AcquisitionTime X/Z
AcquisitionUID U
ActualHumanPerformersSequence X
AdditionalPatientHistory X
AddressTrial X
AdmissionID X
AdmittingDate X
AdmittingDiagnosesCodeSequence X
AdmittingDiagnosesDescription X
AdmittingTime X
Allergies X
AnnotationGroupDescription X
AnnotationGroupLabel D
AnnotationGroupUID D
ApprovalStatusDateTime X
Arbitrary X
AssertionDateTime D
AssertionExpirationDateTime X
AttributeModificationDateTime D
AuthorObserverSequence X
BarcodeValue X/Z
BeamDescription X
BeamHoldTransitionDateTime D
BolusDescription X
BranchOfService X
CalibrationDate X
CalibrationDateTime Z
CalibrationTime X
CameraOwnerName X
CassetteID X
CertificateOfSigner D
CertifiedTimestamp X
ClinicalTrialCoordinatingCenterName Z
ClinicalTrialProtocolEthicsCommitteeApprovalNumber X
ClinicalTrialProtocolEthicsCommitteeName D
ClinicalTrialProtocolID D
ClinicalTrialProtocolName Z
ClinicalTrialSeriesDescription X
ClinicalTrialSeriesID X
ClinicalTrialSiteID Z
ClinicalTrialSiteName Z
ClinicalTrialSponsorName D
ClinicalTrialSubjectID D
ClinicalTrialSubjectReadingID D
ClinicalTrialTimePointDescription X
ClinicalTrialTimePointID Z
CommentsOnRadiationDose X
CommentsOnThePerformedProcedureStep X
CompensatorDescription X
ConcatenationUID U
ConceptualVolumeCombinationDescription Z
ConceptualVolumeDescription Z
ConceptualVolumeUID U
ConfidentialityConstraintOnPatientDataDescription X
ConstituentConceptualVolumeUID U
ConsultingPhysicianIdentificationSequence X
ConsultingPhysicianName Z
ContainerComponentID X
ContainerDescription X
ContainerIdentifier D
ContentCreatorIdentificationCodeSequence X
ContentCreatorName Z
ContentDate Z/D
ContentSequence X
ContentTime Z/D
ContextGroupExtensionCreatorUID U
ContextGroupLocalVersion D
ContextGroupVersion D
ContrastBolusAgent Z/D
ContrastBolusStartTime X
ContrastBolusStopTime X
ContributionDateTime X
ContributionDescription X
CountryOfResidence X
CreationDate X
CreationTime X
CreatorVersionUID U
CurrentObserverTrial X
CurrentPatientLocation X
CurveDate X
CurveTime X
CustodialOrganizationSequence X
DataSetTrailingPadding X
Date D
DateOfDocumentOrVerbalTransactionTrial X
DateOfInstallation X
DateOfLastCalibration X
DateOfLastDetectorCalibration X/D
DateOfManufacture X
DateOfSecondaryCapture X
DateTime D
DateTimeOfLastCalibration X
DecayCorrectionDateTime X/D
DecompositionDescription X
DerivationDescription X
DestinationAE D
DetectorID X/D
DeviceAlternateIdentifier Z
DeviceDescription X
DeviceLabel D
DeviceSerialNumber X/Z/D
DeviceSettingDescription X
DeviceUID U
DigitalSignatureDateTime D
DigitalSignaturesSequence X
DigitalSignatureUID X
DimensionOrganizationUID U
DischargeDate X
DischargeDiagnosisDescription X
DischargeTime X
DisplacementReferenceLabel X
DistributionAddress X
DistributionName X
DoseReferenceDescription X
DoseReferenceUID U
DosimetricObjectiveUID U
EffectiveDateTime D
EncapsulatedDocument D
EndAcquisitionDateTime X/D
EntityDescription X
EntityLabel D
EntityLongLabel D
EntityName X
EquipmentFrameOfReferenceDescription X
EthicsCommitteeApprovalEffectivenessEndDate X
EthicsCommitteeApprovalEffectivenessStartDate X
EthnicGroup X
ExclusionStartDateTime D
ExpectedCompletionDateTime X
FailedSOPInstanceUIDList U
FiducialUID U
FillerOrderNumberImagingServiceRequest Z
FilterLookupTableDescription X
FindingsGroupRecordingDateTrial X
FindingsGroupRecordingTimeTrial X
FirstTreatmentDate X/D
FixationDeviceDescription X
FlowIdentifier D
FlowIdentifierSequence D
FractionationNotes Z
FractionGroupDescription X
FrameAcquisitionDateTime X/D
FrameComments X
FrameOfReferenceUID U
FrameOriginTimestamp D
FrameReferenceDateTime X/D
FunctionalSyncPulse D
GantryID X
GeneratorID X
GPSAltitude X
GPSAltitudeRef X
GPSAreaInformation X
GPSDateStamp X
GPSDestBearing X
GPSDestBearingRef X
GPSDestDistance X
GPSDestDistanceRef X
GPSDestLatitude X
GPSDestLatitudeRef X
GPSDestLongitude X
GPSDestLongitudeRef X
GPSDifferential X
GPSDOP X
GPSImgDirection X
GPSImgDirectionRef X
GPSLatitude X
GPSLatitudeRef X
GPSLongitude X
GPSLongitudeRef X
GPSMapDatum X
GPSMeasureMode X
GPSProcessingMethod X
GPSSatellites X
GPSSpeed X
GPSSpeedRef X
GPSStatus X
GPSTimeStamp X
GPSTrack X
GPSTrackRef X
GPSVersionID X
GraphicAnnotationSequence D
GroupOfPatientsIdentificationSequence X
HangingProtocolCreationDateTime D
HL7DocumentEffectiveTime X
HumanPerformerName X
HumanPerformerOrganization X
IconImageSequence X
IdentifyingComments X
ImageComments X
ImagePresentationComments X
ImagingServiceRequestComments X
ImpedanceMeasurementDateTime D
Impressions X
InformationIssueDateTime D
InstanceCoercionDateTime X
InstanceCreationDate X/D
InstanceCreationTime X/Z/D
InstanceCreatorUID U
InstanceOriginStatus X
InstitutionAddress X
InstitutionalDepartmentName X
InstitutionalDepartmentTypeCodeSequence X
InstitutionCodeSequence X/Z/D
InstitutionName X/Z/D
InstructionPerformedDateTime Z/D
InsurancePlanIdentification X
IntendedFractionStartTime X
IntendedPhaseEndDate X/D
IntendedPhaseStartDate X/D
IntendedRecipientsOfResultsIdentificationSequence X
InterlockDateTime D
InterlockDescription D
InterlockOriginDescription D
InterpretationApprovalDate X
InterpretationApprovalTime X
InterpretationApproverSequence X
InterpretationAuthor X
InterpretationDiagnosisDescription X
InterpretationID X
InterpretationIDIssuer X
InterpretationRecordedDate X
InterpretationRecordedTime X
InterpretationRecorder X
InterpretationText X
InterpretationTranscriber X
InterpretationTranscriptionDate X
InterpretationTranscriptionTime X
InterventionDrugStartTime X
InterventionDrugStopTime X
IrradiationEventUID U
IssueDateOfImagingServiceRequest X
IssuerOfAccessionNumberSequence X
IssuerOfAdmissionID X
IssuerOfAdmissionIDSequence X
IssuerOfClinicalTrialProtocolID X
IssuerOfClinicalTrialSeriesID X
IssuerOfClinicalTrialSiteID X
IssuerOfClinicalTrialSubjectID X
IssuerOfClinicalTrialSubjectReadingID X
IssuerOfClinicalTrialTimePointID X
IssuerOfPatientID X
IssuerOfServiceEpisodeID X
IssuerOfServiceEpisodeIDSequence X
IssuerOfTheContainerIdentifierSequence Z
IssuerOfTheSpecimenIdentifierSequence Z
IssueTimeOfImagingServiceRequest X
LabelText X/Z
LargePaletteColorLookupTableUID U
LastMenstrualDate X
LensMake X
LensModel X
LensSerialNumber X
LensSpecification X
LongDeviceDescription X
MAC X
MakerNote X
ManufacturerDeviceClassUID U
ManufacturerDeviceIdentifier Z
MediaStorageSOPInstanceUID U
MedicalAlerts X
MedicalRecordLocator X
MilitaryRank X
ModifiedAttributesSequence X
ModifiedImageDate X
ModifiedImageDescription X
ModifiedImageTime X
ModifyingDeviceID X
ModifyingDeviceManufacturer X
ModifyingSystem D
MostRecentTreatmentDate X/D
MultienergyAcquisitionDescription X
MultiplexGroupUID U
NameOfPhysiciansReadingStudy X
NamesOfIntendedRecipientsOfResults X
NetworkID X
NonconformingDataElementValue X
NonconformingModifiedAttributesSequence X
ObservationDateTime X/D
ObservationDateTrial X
ObservationStartDateTime X
ObservationSubjectUIDTrial U
ObservationTimeTrial X
ObservationUID U
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
Originator X
OtherClinicalTrialProtocolIDsSequence X
OtherPatientIDs X
OtherPatientIDsSequence X
OtherPatientNames X
OverlayDate X
OverlayTime X
OverrideDateTime D
PaletteColorLookupTableUID U
ParticipantSequence X
ParticipationDateTime Z
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
PatientSetupPhotoDescription X
PatientSetupUID U
PatientSex Z
PatientSexNeutered X/Z
PatientSize X
PatientState X
PatientTelecomInformation X
PatientTelephoneNumbers X
PatientTransportArrangements X
PatientTreatmentPreparationMethodDescription X
PatientTreatmentPreparationProcedureParameterDescription X
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
PositionAcquisitionTemplateDescription X
PositionAcquisitionTemplateName X
PregnancyStatus X
PreMedication X
PrescriptionDescription X
PrescriptionNotes Z
PrescriptionNotesSequence Z
PresentationCreationDate X
PresentationCreationTime X
PresentationDisplayCollectionUID U
PresentationSequenceCollectionUID U
PriorTreatmentDoseDescription X
ProcedureStepCancellationDateTime X
ProductExpirationDateTime X
ProtocolName X/D
PyramidDescription X
PyramidLabel X
PyramidUID U
RadiationDoseIdentificationLabel D
RadiationDoseInVivoMeasurementLabel D
RadiationGenerationModeDescription Z
RadiationGenerationModeLabel D
RadiopharmaceuticalStartDateTime X
RadiopharmaceuticalStartTime X
RadiopharmaceuticalStopDateTime X
RadiopharmaceuticalStopTime X
ReasonForOmissionDescription X
ReasonForRequestedProcedureCodeSequence X
ReasonForStudy X
ReasonForSuperseding Z
ReasonForTheAttributeModification D
ReasonForTheImagingServiceRequest X
ReasonForTheRequestedProcedure X
ReasonForVisit X
ReasonForVisitCodeSequence X
ReceivingAE X
RecordedRTControlPointDateTime D
ReferencedConceptualVolumeUID U
ReferencedDateTime D
ReferencedDigitalSignatureSequence X
ReferencedDoseReferenceUID U
ReferencedDosimetricObjectiveUID U
ReferencedFiducialsUID U
ReferencedFrameOfReferenceUID U
ReferencedGeneralPurposeScheduledProcedureStepTransactionUID U
ReferencedImageSequence X/Z/U*
ReferencedObservationUIDTrial U
ReferencedPatientAliasSequence X
ReferencedPatientPhotoSequence X
ReferencedPatientSequence X
ReferencedPerformedProcedureStepSequence X/Z/D
ReferencedSOPInstanceMACSequence X
ReferencedSOPInstanceUID U
ReferencedSOPInstanceUIDInFile U
ReferencedStudySequence X/Z
ReferencedTreatmentPositionGroupUID U
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
RequestedSeriesDescription X
RequestingAE X
RequestingPhysician X
RequestingService X
RespiratoryMotionCompensationTechniqueDescription X
ResponsibleOrganization X
ResponsiblePerson X
ResultsComments X
ResultsDistributionListSequence X
ResultsID X
ResultsIDIssuer X
RetrieveAETitle X
ReviewDate Z
ReviewerName X/Z
ReviewTime Z
ROICreatorSequence X
ROIDateTime X
ROIDescription X
ROIGenerationDescription X
ROIInterpreter Z
ROIInterpreterSequence X
ROIName Z
ROIObservationDateTime X
ROIObservationDescription X
ROIObservationLabel X
RTAccessoryDeviceSlotID Z
RTAccessoryHolderSlotID Z
RTPhysicianIntentNarrative Z
RTPlanDate X/D
RTPlanDescription X
RTPlanLabel D
RTPlanName X
RTPlanTime X/D
RTPrescriptionLabel D
RTToleranceSetLabel D
RTTreatmentApproachLabel X/D
RTTreatmentPhaseUID U
SafePositionExitDate D
SafePositionExitTime D
SafePositionReturnDate D
SafePositionReturnTime D
ScheduledAdmissionDate X
ScheduledAdmissionTime X
ScheduledDischargeDate X
ScheduledDischargeTime X
ScheduledHumanPerformersSequence X
ScheduledPatientInstitutionResidence X
ScheduledPerformingPhysicianIdentificationSequence X
ScheduledPerformingPhysicianName X
ScheduledProcedureStepDescription X
ScheduledProcedureStepEndDate X
ScheduledProcedureStepEndTime X
ScheduledProcedureStepExpirationDateTime X
ScheduledProcedureStepID X
ScheduledProcedureStepLocation X
ScheduledProcedureStepModificationDateTime X
ScheduledProcedureStepStartDate X
ScheduledProcedureStepStartDateTime X
ScheduledProcedureStepStartTime X
ScheduledStationAETitle X
ScheduledStationGeographicLocationCodeSequence X
ScheduledStationName X
ScheduledStationNameCodeSequence X
ScheduledStudyLocation X
ScheduledStudyLocationAETitle X
ScheduledStudyStartDate X
ScheduledStudyStartTime X
ScheduledStudyStopDate X
ScheduledStudyStopTime X
SelectorAEValue D
SelectorASValue D
SelectorDAValue D
SelectorDTValue D
SelectorLOValue D
SelectorLTValue D
SelectorOBValue D
SelectorPNValue D
SelectorSHValue D
SelectorSTValue D
SelectorTMValue D
SelectorUNValue D
SelectorURValue D
SelectorUTValue D
SeriesDate X/D
SeriesDescription X
SeriesInstanceUID U
SeriesTime X/D
ServiceEpisodeDescription X
ServiceEpisodeID X
SetupTechniqueDescription X
ShieldingDeviceDescription X
SlideIdentifier X
SmokingStatus X
SOPAuthorizationDateTime X
SOPInstanceUID U
SourceConceptualVolumeUID U
SourceEndDateTime D
SourceFrameOfReferenceUID U
SourceIdentifier D
SourceImageSequence X/Z/U*
SourceManufacturer X
SourceOfPreviousValues Z
SourcePatientGroupIdentificationSequence X
SourceSerialNumber X/Z
SourceStartDateTime D
SourceStrengthReferenceDate D
SourceStrengthReferenceTime D
SpecialNeeds X
SpecimenAccessionNumber X
SpecimenDetailedDescription X
SpecimenIdentifier D
SpecimenPreparationSequence Z
SpecimenShortDescription X
SpecimenUID U
StartAcquisitionDateTime X/D
StationAETitle X
StationName X/Z/D
StorageMediaFileSetUID U
StructureSetDate Z
StructureSetDescription X
StructureSetLabel D
StructureSetName X
StructureSetTime Z
StudyArrivalDate X
StudyArrivalTime X
StudyComments X
StudyCompletionDate X
StudyCompletionTime X
StudyDate Z
StudyDescription X
StudyID Z
StudyIDIssuer X
StudyInstanceUID U
StudyReadDate X
StudyReadTime X
StudyTime Z
StudyVerifiedDate X
StudyVerifiedTime X
SubstanceAdministrationDateTime X
SynchronizationFrameOfReferenceUID U
TargetUID U
TelephoneNumberTrial X
TemplateExtensionCreatorUID U
TemplateExtensionOrganizationUID U
TemplateLocalVersion X
TemplateVersion X
TextComments X
TextString X
Time D
TimeOfDocumentCreationOrVerbalTransactionTrial X
TimeOfLastCalibration X
TimeOfLastDetectorCalibration X/D
TimeOfSecondaryCapture X
TimezoneOffsetFromUTC X
TopicAuthor X
TopicKeywords X
TopicSubject X
TopicTitle X
TrackingUID U
TransactionUID U
TransducerIdentificationSequence X
TreatmentControlPointDate D
TreatmentControlPointTime D
TreatmentDate X/D
TreatmentMachineName X/Z
TreatmentPositionGroupLabel D
TreatmentPositionGroupUID U
TreatmentSessionUID U
TreatmentSite X/D
TreatmentSites X
TreatmentTechniqueNotes Z
TreatmentTime X/D
TreatmentToleranceViolationDateTime D
TreatmentToleranceViolationDescription D
UDISequence X
UID U
UniqueDeviceIdentifier X
UserContentLabel D
UserContentLongLabel D
VerbalSourceIdentifierCodeSequenceTrial X
VerbalSourceTrial X
VerificationDateTime D
VerifyingObserverIdentificationCodeSequence Z
VerifyingObserverName D
VerifyingObserverSequence D
VerifyingOrganization X
VisitComments X
WaveformFilterDescription X
XRayDetectorID D
XRayDetectorLabel X
XRaySourceID D
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
