"""Refusals of the card application (APP-1 … APP-5): stable codes, HTTP status, translated message."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("application_not_eligible_staff", 403,
         _("Staff cards are issued by the Card Center from the HR roster: you do not need to apply here. "
           "Ask your department's HR office if your card has not arrived."))
register("application_not_eligible", 403,
         _("Only full-time registered students (undergraduate, graduate, exchange) can apply for a card "
           "here: %(reason)s"))
register("application_card_exists", 409, _("You already have an active %(kind)s card."))
register("application_not_found", 404, _("No such card application."))
register("application_no_person", 403, _("Your account is not linked to a person in the roster."))
register("application_state_invalid", 409,
         _("The application cannot do that in its current state (%(state)s)."))
register("application_incomplete", 422, _("The application is not complete yet: %(missing)s"))
register("application_id_mismatch", 422,
         _("The ID document does not match the roster. Check the type and number, or ask the registrar "
           "to correct your record."))
register("application_id_invalid", 422, _("The ID number is not valid: %(reason)s"))
register("application_status_proof_missing", 409,
         _("The registrar has no electronic proof of student status for you yet. Ask the registrar's office."))
register("application_status_proof_mismatch", 422,
         _("The proof of student status does not match the registrar's reference."))
register("application_addon_unknown", 422, _("Unknown add-on: %(addon)s"))
register("application_collect_invalid", 422, _("Choose where to collect the card: %(reason)s"))
register("application_reason_required", 422, _("Say why the application is rejected."))
register("application_not_all_checks_passed", 409,
         _("Not every automatic check passed: review this application one by one."))
register("phone_invalid", 422, _("Enter a mainland mobile number of 11 digits starting with 1."))
register("phone_code_too_soon", 429, _("A code was sent less than a minute ago. Wait %(seconds)s seconds."))
register("phone_code_too_many", 429,
         _("Too many codes were requested. Try again in %(minutes)s minutes."))
register("phone_code_wrong", 422, _("The code is not right. %(left)s tries left."))
register("phone_code_expired", 422, _("The code has expired or was used up. Ask for a new one."))
register("phone_code_dead", 422, _("Too many wrong codes: this code no longer works. Ask for a new one."))
register("phone_code_locked", 429,
         _("Too many wrong codes from here. Try again in %(minutes)s minutes."))
register("phone_sms_failed", 502, _("The text message could not be sent. Try again in a moment."))
register("document_kind_invalid", 422, _("This application does not need a document of that kind."))
register("document_type_invalid", 422, _("The document must be a JPEG, PNG or PDF file."))
register("document_too_large", 422, _("The document must be at most %(limit)s MB."))
register("document_empty", 422, _("The file is empty."))
register("document_not_found", 404, _("No such document."))
# Face checks (APP-3) and the registrar's photos (enrollment.face_checks, enrollment.registrar).
register("face_consent_missing", 409, _("Agree to the face check first: it uses your face's biometric data."))
register("face_attempts_exhausted", 429,
         _("Too many face-check attempts (%(limit)s). The Card Center will compare your photo by hand."))
register("face_attempt_not_found", 404, _("No such face-check attempt."))
register("face_attempt_closed", 409, _("This face-check attempt is already used. Start a new one."))
register("face_attempt_expired", 409, _("The face check took too long. Start again and follow the prompts."))
register("face_nonce_invalid", 403, _("This face-check attempt does not match. Start again."))
register("face_frames_count", 422, _("Send between %(min)s and %(max)s frames."))
register("face_frame_invalid", 422, _("Frame %(index)s is not a JPEG or PNG picture of at most 640×480."))
register("face_frame_replayed", 409, _("These pictures were sent before. Start again in front of the camera."))
register("registrar_photo_unknown_number", 404, _("No student with number %(number)s."))
register("registrar_photo_invalid", 422, _("The photo is not a JPEG or PNG image: %(reason)s"))
register("registrar_photo_no_face", 422, _("No face was found on the photo."))
register("registrar_photo_many_faces", 422, _("The photo shows %(count)s faces; it must show one."))
register("registrar_photo_zip_invalid", 422, _("This is not a ZIP file of photos."))
register("face_engine_missing", 503, _("The face-recognition engine is not installed on this server."))
register("face_terminal_required", 403, _("Only face terminals may ask for the face templates."))
register("face_check_passed", 409, _("Your face check has already passed."))
